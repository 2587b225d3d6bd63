// A runtime driver for unit tests of the reconcile steps: workers live in a Map, every call is
// logged, and the test says when a worker exits (or is paused).
import { Clock, Effect, Ref } from "effect"
import type { RuntimeDriver, WorkerInfo } from "../../src/runtime/driver.ts"

export const makeStandInRuntime = (queue: string) => Effect.gen(function*() {
  const workers = yield* Ref.make(new Map<string, WorkerInfo>())
  const log = yield* Ref.make<Array<string>>([])
  const note = (line: string) => Ref.update(log, (l) => [...l, line])
  const setState = (id: string, state: WorkerInfo["state"]) =>
    Ref.update(workers, (m) => { const w = m.get(id); return w ? new Map(m).set(id, { ...w, state }) : m })
  const driver: RuntimeDriver = {
    name: "process",
    list: () => Ref.get(workers).pipe(Effect.map((m) => [...m.values()])),
    start: (spec) => Effect.gen(function*() {
      const w: WorkerInfo = { id: spec.instance, instance: spec.instance, queue, name: spec.instance, state: "running", exitCode: null, startedAt: yield* Clock.currentTimeMillis }
      yield* Ref.update(workers, (m) => new Map(m).set(w.id, w))
      yield* note(`start ${w.id}`)
      return w
    }),
    stop: (w) => note(`stop ${w.id}`),
    drain: (w) => note(`drain ${w.id}`),
    suspend: (w) => note(`suspend ${w.id}`),
    freeze: (w) => setState(w.id, "paused").pipe(Effect.andThen(note(`freeze ${w.id}`))),
    thaw: (w) => setState(w.id, "running").pipe(Effect.andThen(note(`thaw ${w.id}`))),
    remove: (w) => Ref.update(workers, (m) => { const n = new Map(m); n.delete(w.id); return n }).pipe(Effect.andThen(note(`remove ${w.id}`))),
    ping: Effect.void
  }
  const add = (id: string, startedAt: number) =>
    Ref.update(workers, (m) => new Map(m).set(id, { id, instance: id, queue, name: id, state: "running", exitCode: null, startedAt }))
  const exit = (id: string, code: number) =>
    Ref.update(workers, (m) => { const w = m.get(id); return w ? new Map(m).set(id, { ...w, state: "exited", exitCode: code }) : m })
  const alive = Ref.get(workers).pipe(Effect.map((m) => [...m.values()].filter((w) => w.state !== "exited").map((w) => w.id)))
  return { driver, add, exit, setState, alive, log: Ref.get(log), clearLog: Ref.set(log, []) }
})
