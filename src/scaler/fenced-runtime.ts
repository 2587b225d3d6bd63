// The runtime as the scaler's loops see it under leader election: every action that changes a
// worker (start, stop, drain, suspend, freeze, thaw, remove) first checks that this scaler still
// leads and may act; a scaler whose lease lapsed (a pause, a partition) is refused the action.
import { Effect } from "effect"
import { RuntimeError, type RuntimeDriver } from "../runtime/driver.ts"

export const fenceRuntime = (runtime: RuntimeDriver, mayAct: Effect.Effect<boolean>): RuntimeDriver => {
  const fenced = <A>(what: string, action: Effect.Effect<A, RuntimeError>) =>
    Effect.flatMap(mayAct, (ok) => ok
      ? action
      : Effect.fail(new RuntimeError({ message: `${what}: refused, this scaler is not the leader (or its lease has run out)` })))
  return {
    ...runtime,
    start: (spec) => fenced(`start a worker of queue ${spec.queue.name}`, runtime.start(spec)),
    stop: (w, grace) => fenced(`stop worker ${w.name}`, runtime.stop(w, grace)),
    drain: (w) => fenced(`drain worker ${w.name}`, runtime.drain(w)),
    suspend: (w) => fenced(`suspend worker ${w.name}`, runtime.suspend(w)),
    freeze: (w) => fenced(`freeze worker ${w.name}`, runtime.freeze(w)),
    thaw: (w) => fenced(`thaw worker ${w.name}`, runtime.thaw(w)),
    remove: (w) => fenced(`remove worker ${w.name}`, runtime.remove(w))
  }
}
