// The reconcile step under Effect's TestClock, with a stand-in runtime (an in-memory list of
// workers): job-aware scale-in (idle replicas first, busy ones drained, never stopped), draining
// replicas in the status, adoption of draining replicas after a restart, and the step guard.
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Ref } from "effect"
import { TestClock } from "effect/testing"
import type { Backlog } from "../../src/jetstream/backlog.ts"
import type { OverrideState } from "../../src/scaler/override.ts"
import { guardStep } from "../../src/scaler/queue-loop.ts"
import { adoptionWaitMs, makeReconcile, type QueueStatus } from "../../src/scaler/reconcile.ts"
import type { ReportedState, WorkerStates } from "../../src/scaler/worker-states.ts"
import { testQueue } from "../support/queue.ts"
import { makeStandInRuntime } from "../support/stand-in-runtime.ts"

const q = testQueue("rec", { maxReplicas: 4, targetPending: 4, scaleDownDelay: Duration.seconds(1), idleTimeout: Duration.seconds(30) })

const makeStandIn = makeStandInRuntime(q.name)

const setup = (options: {
  readonly since?: number
  readonly q?: typeof q
  readonly grant?: (wanted: number) => Effect.Effect<number>
  readonly oldestWaitingAt?: Effect.Effect<number | undefined>
} = {}) => Effect.gen(function*() {
  const runtime = yield* makeStandIn
  const backlog = yield* Ref.make<Backlog>({ pending: 0, ackPending: 0, total: 0 })
  const reports = yield* Ref.make(new Map<string, ReportedState>())
  const statuses = yield* Ref.make<Array<QueueStatus>>([])
  const override = yield* Ref.make<OverrideState | null>(null)
  let n = 0
  const workerStates: WorkerStates = { of: () => Ref.get(reports), retain: () => Effect.void, forgetBefore: () => Effect.void, since: options.since ?? 0 }
  const { step, state } = yield* makeReconcile({
    q: options.q ?? q,
    runtime: runtime.driver,
    backlog: Ref.get(backlog),
    workerStates,
    activator: { takeSeen: Effect.succeed({ count: 0, first: undefined, firstAt: undefined }), set: () => Effect.void },
    override,
    workerEnv: () => ({}),
    newInstanceId: () => `new${n++}`,
    publishEvent: () => Effect.void,
    onWake: () => Effect.void,
    report: (s) => Ref.update(statuses, (l) => [...l, s]),
    ...(options.grant ? { grant: options.grant } : {}),
    ...(options.oldestWaitingAt ? { oldestWaitingAt: () => options.oldestWaitingAt! } : {})
  })
  const setBacklog = (pending: number, ackPending: number) => Ref.set(backlog, { pending, ackPending, total: pending + ackPending })
  const report = (instance: string, state: ReportedState["state"], inFlight: number) =>
    Ref.update(reports, (m) => new Map(m).set(instance, { state, inFlight, at: 0 }))
  const lastStatus = Ref.get(statuses).pipe(Effect.map((l) => l.at(-1)))
  return { runtime, step, state, setBacklog, report, lastStatus, statuses }
})

describe("reconcile step", () => {
  it.effect("scale-in drains idle replicas first, then busy ones, one step per scaleDownDelay; it never stops one", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      for (const [id, startedAt] of [["a", 1], ["b", 2], ["c", 3], ["d", 4]] as const) yield* t.runtime.add(id, startedAt)
      yield* t.report("a", "running", 1)
      yield* t.report("b", "running", 0)
      yield* t.report("c", "running", 1)
      yield* t.report("d", "running", 0)
      // The 4 long jobs are all the backlog: desired = ceil(4 / 4) = 1.
      yield* t.setBacklog(0, 4)
      yield* t.step // adopts 4
      assert.deepStrictEqual(yield* t.runtime.log, [])
      for (let i = 0; i < 3; i++) {
        yield* TestClock.adjust("1 second")
        yield* t.step
        yield* TestClock.adjust("1 second")
        yield* t.step
      }
      assert.deepStrictEqual(yield* t.runtime.log, ["drain d", "drain b", "drain c"])
      assert.deepInclude(yield* t.lastStatus, { desired: 1, running: 1, replicas: 1, draining: 3 })
    }))

  it.effect("a drained replica that exits is removed, is no crash, and is not replaced", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      yield* t.runtime.add("a", 1)
      yield* t.runtime.add("b", 2)
      yield* t.report("a", "running", 1)
      yield* t.report("b", "running", 1)
      yield* t.setBacklog(0, 2)
      yield* t.step
      yield* TestClock.adjust("1 second")
      yield* t.step
      yield* TestClock.adjust("1 second")
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["drain b"])
      assert.deepInclude(yield* t.lastStatus, { running: 1, draining: 1, desired: 1 })
      yield* t.runtime.exit("b", 0)
      yield* t.setBacklog(0, 1)
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["drain b", "remove b"])
      assert.deepInclude(yield* t.lastStatus, { running: 1, draining: 0, desired: 1 })
      const s = yield* Ref.get(t.state)
      assert.strictEqual(s.crashes.consecutive, 0)
      assert.strictEqual(s.draining.size, 0)
    }))

  it.effect("a worker that dies unasked is a crash and is replaced after the backoff", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      yield* t.runtime.add("a", 1)
      yield* t.report("a", "running", 1)
      yield* t.setBacklog(0, 1)
      yield* t.step
      yield* t.runtime.exit("a", 137)
      yield* t.step
      assert.strictEqual((yield* Ref.get(t.state)).crashes.consecutive, 1)
      assert.deepStrictEqual(yield* t.runtime.log, ["remove a"])
      yield* TestClock.adjust("1 second")
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["remove a", "start new0"])
    }))

  it.effect("after a restart, replicas that say they drain are adopted as draining: not counted, not restarted, their exit no crash", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      yield* t.runtime.add("a", 1)
      yield* t.runtime.add("b", 2)
      yield* t.runtime.add("c", 3)
      yield* t.report("a", "running", 1)
      yield* t.report("b", "draining", 1)
      yield* t.report("c", "running", 0)
      yield* t.setBacklog(0, 8)
      yield* t.step
      assert.deepInclude(yield* t.lastStatus, { running: 2, draining: 1, desired: 2 })
      yield* t.runtime.exit("b", 0)
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["remove b"])
      assert.strictEqual((yield* Ref.get(t.state)).crashes.consecutive, 0)
      assert.deepInclude(yield* t.lastStatus, { running: 2, draining: 0, desired: 2 })
    }))

  it.effect(`adoption waits up to ${adoptionWaitMs}ms for every running worker's first report`, () =>
    Effect.gen(function*() {
      const t = yield* setup({ since: 0 })
      yield* t.runtime.add("a", 1)
      yield* t.setBacklog(0, 1)
      yield* t.step
      assert.strictEqual((yield* Ref.get(t.state)).policy, undefined)
      assert.strictEqual(yield* t.lastStatus, undefined)
      yield* TestClock.adjust(Duration.millis(adoptionWaitMs))
      yield* t.step
      assert.strictEqual((yield* Ref.get(t.state)).policy?.replicas, 1)
      assert.deepInclude(yield* t.lastStatus, { running: 1, draining: 0 })
    }))
})

describe("guardStep", () => {
  it.effect("a step that throws is logged, reported as the queue's error, and the next step runs normally", () =>
    Effect.gen(function*() {
      const errors: Array<string | null> = []
      const reportError = (e: string | null) => Effect.sync(() => void errors.push(e))
      let calls = 0
      const step = Effect.sync(() => {
        if (calls++ === 0) throw new RangeError("Invalid time value")
      })
      yield* guardStep("demo", step, reportError)
      yield* guardStep("demo", step, reportError)
      assert.deepStrictEqual(errors, ["RangeError: Invalid time value", null])
      assert.strictEqual(calls, 2)
    }))

  it.effect("idle: suspend -> a scale-in cordons, the idle replica is frozen once it says so, and a wake thaws it before starting anything", () =>
    Effect.gen(function*() {
      const t = yield* setup({ q: { ...q, idle: "suspend" } })
      yield* t.runtime.add("a", 1)
      yield* t.report("a", "running", 0)
      yield* t.setBacklog(0, 0)
      yield* t.step // adopts 1, idle since now
      yield* TestClock.adjust("31 seconds")
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["suspend a"])
      assert.deepInclude(yield* t.lastStatus, { desired: 0, running: 0, suspending: 1, suspended: 0 })
      // Still finishing: not frozen.
      yield* t.report("a", "suspending", 1)
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["suspend a"])
      yield* t.report("a", "suspended", 0)
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["suspend a", "freeze a"])
      assert.deepInclude(yield* t.lastStatus, { desired: 0, running: 0, suspending: 0, suspended: 1 })
      // A job comes: the frozen replica is thawed, nothing is started.
      yield* t.setBacklog(1, 0)
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["suspend a", "freeze a", "thaw a"])
      assert.deepInclude(yield* t.lastStatus, { desired: 1, running: 1, suspending: 0, suspended: 0 })
      // More work than one replica: the thawed one plus new starts.
      yield* t.report("a", "running", 1)
      yield* t.setBacklog(8, 1)
      yield* TestClock.adjust("1 second")
      yield* t.step
      assert.deepStrictEqual((yield* t.runtime.log).slice(3), ["start new0", "start new1"])
    }))

  it.effect("after a restart, frozen replicas are adopted as suspended and suspending ones as suspending: neither counts as running, and a wake resumes the cordoned one first", () =>
    Effect.gen(function*() {
      const t = yield* setup({ q: { ...q, idle: "suspend" } })
      yield* t.runtime.add("a", 1)
      yield* t.runtime.setState("a", "paused")
      yield* t.runtime.add("b", 2)
      yield* t.report("b", "suspending", 1)
      yield* t.setBacklog(0, 1)
      yield* t.step
      // The backlog (b's job) wants one replica: the cordoned one is resumed, nothing started; the
      // frozen one stays frozen.
      assert.deepStrictEqual(yield* t.runtime.log, ["thaw b"])
      assert.deepInclude(yield* t.lastStatus, { desired: 1, running: 1, suspending: 0, suspended: 1 })
    }))
})

describe("reconcile step: signals, schedules and the budget", () => {
  it.effect("a schedule raises the floor at its cron time (TestClock across 08:00 UTC) and lets it go after `for`", () =>
    Effect.gen(function*() {
      const scheduled = testQueue("sched", {
        maxReplicas: 4, idleTimeout: Duration.seconds(5), schedule: [{ cron: "0 8 * * *", minReplicas: 2, for: Duration.hours(1) }]
      })
      const t = yield* setup({ q: scheduled })
      yield* TestClock.setTime(Date.parse("2026-12-01T07:59:00Z"))
      yield* t.step
      assert.deepInclude(yield* t.lastStatus, { desired: 0, running: 0, schedule: null })
      yield* TestClock.adjust("59 seconds")
      yield* t.step
      assert.deepInclude(yield* t.lastStatus, { desired: 0 })
      yield* TestClock.adjust("1 second") // 08:00:00
      yield* t.step
      const at8 = (yield* t.lastStatus)!
      assert.deepInclude(at8, { desired: 2, running: 2 })
      assert.deepStrictEqual(at8.schedule, { minReplicas: 2, until: "2026-12-01T09:00:00.000Z", cron: "0 8 * * *" })
      yield* TestClock.adjust("1 hour")
      yield* t.step
      assert.strictEqual((yield* t.lastStatus)!.schedule, null)
      yield* TestClock.adjust("10 seconds")
      yield* t.step
      assert.deepInclude(yield* t.lastStatus, { desired: 0 })
    }))

  it.effect("the budget's grant caps the decision; the status shows wanted and granted, and the reason says so", () =>
    Effect.gen(function*() {
      const asked: Array<number> = []
      const t = yield* setup({ grant: (wanted) => Effect.sync(() => { asked.push(wanted); return Math.min(wanted, 2) }) })
      yield* t.setBacklog(16, 0)
      yield* t.step
      assert.deepInclude(yield* t.lastStatus, { desired: 2, running: 2, wanted: 4, granted: 2 })
      assert.deepStrictEqual(asked, [4])
      assert.match((yield* t.lastStatus)!.lastDecision!.reason, /budget: granted 2 of 4 wanted/)
      yield* t.step
      assert.deepStrictEqual(asked.at(-1), 4)
    }))

  it.effect("a queue holding replicas through its delays asks the budget for them: a grant of what it asks never scales it in", () =>
    Effect.gen(function*() {
      const asked: Array<number> = []
      const t = yield* setup({ grant: (wanted) => Effect.sync(() => { asked.push(wanted); return wanted }) })
      yield* t.setBacklog(8, 0)
      yield* t.step
      assert.deepInclude(yield* t.lastStatus, { desired: 2 })
      yield* t.setBacklog(0, 0) // wants 0 now, but idleTimeout (30s) and scaleDownDelay keep the replicas
      yield* TestClock.adjust("500 millis")
      yield* t.step
      assert.deepInclude(yield* t.lastStatus, { desired: 2, wanted: 0 })
      assert.deepStrictEqual(asked, [2, 2])
    }))

  it.effect("waitTime: the oldest waiting job's age against targetWait decides, and the status names the signal", () =>
    Effect.gen(function*() {
      const waiting = testQueue("wait", { maxReplicas: 8, targetPending: 1000, signals: ["backlog", "waitTime"], targetWait: Duration.seconds(5) })
      const oldest = yield* Ref.make<number | undefined>(undefined)
      const t = yield* setup({ q: waiting, oldestWaitingAt: Ref.get(oldest) })
      yield* TestClock.setTime(100_000)
      yield* Ref.set(oldest, 80_000) // 20 s old, 4x targetWait
      yield* t.setBacklog(30, 0)
      yield* t.step
      const s = (yield* t.lastStatus)!
      assert.deepInclude(s, { desired: 4, signal: "waitTime" })
      assert.match(s.lastDecision!.reason, /waitTime/)
    }))
})
