// The job-mode reconcile step (`mode: job`) under Effect's TestClock, with a stand-in runtime (an
// in-memory list of workers the test makes exit): one worker per job up to maxReplicas, exit 0 as a
// job's normal end, other exits as crashes, a retry waiting for its NAK delay kept one worker, busy
// workers never stopped, the activator, overrides and batches. Plus the pure plan and the worker env.
import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Ref } from "effect"
import { TestClock } from "effect/testing"
import type { Backlog } from "../../src/jetstream/backlog.ts"
import type { ScaleEvent } from "../../src/scaler/events.ts"
import { planJobs, type JobInput } from "../../src/scaler/job-policy.ts"
import { makeJobReconcile } from "../../src/scaler/job-reconcile.ts"
import type { OverrideState } from "../../src/scaler/override.ts"
import type { QueueStatus } from "../../src/scaler/reconcile.ts"
import { jobWaitMs, workerEnv } from "../../src/scaler/worker-env.ts"
import type { ReportedState, WorkerStates } from "../../src/scaler/worker-states.ts"
import { testQueue } from "../support/queue.ts"
import { makeStandInRuntime } from "../support/stand-in-runtime.ts"

const q = testQueue("job", { mode: "job", maxReplicas: 4 })

const makeStandIn = makeStandInRuntime(q.name)

const setup = (queue = q, grant?: (wanted: number) => Effect.Effect<number>) => Effect.gen(function*() {
  const runtime = yield* makeStandIn
  const backlog = yield* Ref.make<Backlog>({ pending: 0, ackPending: 0, total: 0 })
  const reports = yield* Ref.make(new Map<string, ReportedState>())
  const statuses = yield* Ref.make<Array<QueueStatus>>([])
  const events = yield* Ref.make<Array<ScaleEvent>>([])
  const override = yield* Ref.make<OverrideState | null>(null)
  const seen = yield* Ref.make(0)
  const listening = yield* Ref.make<boolean | undefined>(undefined)
  const wakes = yield* Ref.make(0)
  let n = 0
  const workerStates: WorkerStates = { of: () => Ref.get(reports), retain: () => Effect.void, forgetBefore: () => Effect.void, since: 0 }
  const { step, state } = yield* makeJobReconcile({
    q: queue,
    runtime: runtime.driver,
    backlog: Ref.get(backlog),
    workerStates,
    activator: {
      takeSeen: Ref.getAndSet(seen, 0).pipe(Effect.map((count) => ({ count, first: undefined, firstAt: undefined }))),
      set: (active) => Ref.set(listening, active)
    },
    override,
    workerEnv: () => ({}),
    newInstanceId: () => `w${n++}`,
    publishEvent: (e) => Ref.update(events, (l) => [...l, e]),
    onWake: () => Ref.update(wakes, (k) => k + 1),
    report: (s) => Ref.update(statuses, (l) => [...l, s]),
    ...(grant ? { grant } : {})
  })
  const setBacklog = (pending: number, ackPending: number) => Ref.set(backlog, { pending, ackPending, total: pending + ackPending })
  const report = (instance: string, inFlight: number, state: ReportedState["state"] = "running") =>
    Ref.update(reports, (m) => new Map(m).set(instance, { state, inFlight, at: 0 }))
  const lastStatus = Ref.get(statuses).pipe(Effect.map((l) => l.at(-1)!))
  return {
    runtime, step, state, setBacklog, report, lastStatus, override, listening,
    events: Ref.get(events), wakes: Ref.get(wakes), see: (k: number) => Ref.set(seen, k)
  }
})

describe("job-mode reconcile step", () => {
  it.effect("from zero: one worker per pending job, up to maxReplicas; no more while they hold the jobs", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      yield* t.setBacklog(6, 0)
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["start w0", "start w1", "start w2", "start w3"])
      assert.deepInclude(yield* t.lastStatus, { desired: 4, running: 0, pending: 6 })
      const [wake] = yield* t.events
      assert.deepInclude(wake, { from: 0, to: 4, direction: "up", kind: "wake" })
      assert.match(wake!.reason, /^job mode: 6 pending, 0 running \(0 busy\): starting 4 \(maxReplicas 4\)$/)
      assert.strictEqual(yield* t.wakes, 1)
      // At the cap: the activator stops listening.
      assert.strictEqual(yield* Ref.get(t.listening), false)
      // The four took a job each (two still unreported): nothing to start.
      yield* t.setBacklog(2, 4)
      yield* t.report("w0", 1)
      yield* t.report("w1", 1)
      yield* TestClock.adjust("1 second")
      yield* t.step
      assert.strictEqual((yield* t.runtime.log).length, 4)
      assert.deepInclude(yield* t.lastStatus, { desired: 4, running: 4 })
      assert.strictEqual((yield* t.lastStatus).lastDecision?.kind, "hold")
      assert.match((yield* t.lastStatus).lastDecision!.reason, /at maxReplicas 4$/)
    }))

  it.effect("exit 0 is a job's end: removed, no crash, a successor starts at once for the next job; back to zero at the end", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      yield* t.setBacklog(5, 0)
      yield* t.step
      for (const w of ["w0", "w1", "w2", "w3"]) yield* t.report(w, 1)
      yield* t.setBacklog(1, 4)
      yield* t.step
      yield* t.runtime.exit("w0", 0)
      yield* t.runtime.exit("w1", 0)
      yield* t.setBacklog(1, 2)
      yield* t.runtime.clearLog
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["remove w0", "remove w1", "start w4"])
      assert.strictEqual((yield* Ref.get(t.state)).crashes.consecutive, 0)
      assert.deepInclude((yield* t.events).at(-1), { from: 2, to: 3, kind: "scale-up" })
      for (const w of ["w2", "w3", "w4"]) yield* t.runtime.exit(w, 0)
      yield* t.setBacklog(0, 0)
      yield* t.step
      assert.deepInclude(yield* t.lastStatus, { desired: 0, running: 0 })
      assert.deepInclude((yield* t.events).at(-1), { from: 3, to: 0, direction: "down", kind: "scale-down" })
      assert.deepStrictEqual(yield* t.runtime.alive, [])
      // Listening again: the next job wakes the queue at once.
      assert.strictEqual(yield* Ref.get(t.listening), true)
    }))

  it.effect("any other exit is a crash: counted once, its job waits for the backoff and then gets a worker", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      yield* t.setBacklog(1, 0)
      yield* t.step
      yield* t.report("w0", 1)
      yield* t.setBacklog(0, 1)
      yield* t.step
      yield* t.runtime.exit("w0", 1)
      yield* t.runtime.clearLog
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["remove w0"])
      assert.strictEqual((yield* Ref.get(t.state)).crashes.consecutive, 1)
      assert.match((yield* t.lastStatus).lastDecision!.reason, /1 job waiting for a retry or redelivery.*crash-loop backoff/)
      yield* TestClock.adjust("1 second")
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["remove w0", "start w1"])
      // A worker started after the crash that ends well resets the backoff.
      yield* t.runtime.exit("w1", 0)
      yield* t.setBacklog(0, 0)
      yield* t.step
      assert.strictEqual((yield* Ref.get(t.state)).crashes.consecutive, 0)
    }))

  it.effect("never drains or stops a worker that holds a job: not above the cap, not under an override of 0", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      for (const [id, at] of [["a", 1], ["b", 2], ["c", 3], ["d", 4], ["e", 5]] as const) {
        yield* t.runtime.add(id, at)
        yield* t.report(id, 1, "draining")
      }
      yield* t.setBacklog(3, 5)
      yield* t.step
      yield* Ref.set(t.override, { replicas: 0, untilMs: 60_000 })
      for (let i = 0; i < 5; i++) {
        yield* TestClock.adjust("10 seconds")
        yield* t.step
      }
      assert.deepStrictEqual(yield* t.runtime.log, [])
      assert.deepInclude(yield* t.lastStatus, { running: 5, desired: 5, draining: 0 })
      assert.match((yield* t.lastStatus).lastDecision!.reason, /at override cap 0$/)
    }))

  it.effect("idle workers with no job left for them are drained once, after a grace; their exit 0 is no crash", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      yield* t.setBacklog(2, 0)
      yield* t.step
      yield* t.report("w0", 0)
      yield* t.report("w1", 0)
      // Someone else took the jobs (a worker the scaler does not know of): nothing is left for w0 and w1.
      yield* t.setBacklog(0, 0)
      yield* TestClock.adjust("1 second")
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["start w0", "start w1"])
      yield* TestClock.adjust("1 second")
      yield* t.step
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["start w0", "start w1", "drain w0", "drain w1"])
      assert.deepInclude(yield* t.lastStatus, { running: 0, draining: 2, desired: 0 })
      assert.deepInclude((yield* t.events).at(-1), { from: 2, to: 0, kind: "scale-down" })
      assert.match((yield* t.events).at(-1)!.reason, /draining 2 idle job workers: no job is left for them$/)
      yield* t.runtime.exit("w0", 0)
      yield* t.runtime.exit("w1", 0)
      yield* t.step
      assert.deepInclude(yield* t.lastStatus, { running: 0, draining: 0, desired: 0 })
      assert.strictEqual((yield* Ref.get(t.state)).crashes.consecutive, 0)
      assert.strictEqual((yield* Ref.get(t.state)).drained.size, 0)
    }))

  it.effect("a job past its last attempt: the worker started for it pulls (the server then dead-letters it) and is drained", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      yield* t.runtime.add("a", 0)
      yield* t.report("a", 1, "draining")
      yield* t.setBacklog(0, 1)
      yield* t.step
      // Its last attempt failed (NAKed): until a pull, the server keeps it in ackPending.
      yield* t.report("a", 0, "draining")
      yield* t.runtime.exit("a", 0)
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["remove a", "start w0"])
      yield* t.report("w0", 0)
      yield* t.setBacklog(0, 0)
      yield* TestClock.adjust("2 seconds")
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["remove a", "start w0", "drain w0"])
    }))

  it.effect("a retry waiting for its NAK delay keeps one worker waiting for it, replaced only when that one leaves", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      yield* t.setBacklog(1, 0)
      yield* t.step
      yield* t.report("w0", 1)
      yield* t.setBacklog(0, 1)
      yield* t.step
      // The job failed: NAKed with a delay (still in ackPending), and its worker exited 0.
      yield* t.runtime.exit("w0", 0)
      yield* t.runtime.clearLog
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["remove w0", "start w1"])
      assert.match((yield* t.events).at(-1)!.reason, /1 job waiting for a retry or redelivery/)
      // w1 waits for it: no second worker, however many steps pass.
      yield* t.report("w1", 0)
      for (let i = 0; i < 5; i++) {
        yield* TestClock.adjust("1 second")
        yield* t.step
      }
      assert.deepStrictEqual(yield* t.runtime.log, ["remove w0", "start w1"])
      // w1's wait ended before the retry was due: it leaves with nothing, and one successor starts.
      yield* t.runtime.exit("w1", 0)
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["remove w0", "start w1", "remove w1", "start w2"])
      assert.strictEqual((yield* Ref.get(t.state)).crashes.consecutive, 0)
    }))

  it.effect("a worker that says it drains with no job in flight is leaving: the retry's worker starts before it has exited", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      yield* t.setBacklog(1, 0)
      yield* t.step
      // Taken: it says `draining` with its job at once.
      yield* t.report("w0", 1, "draining")
      yield* t.setBacklog(0, 1)
      yield* t.step
      // NAKed for a retry; the worker is still on its way out.
      yield* t.report("w0", 0, "draining")
      yield* t.runtime.clearLog
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["start w1"])
      assert.deepInclude(yield* t.lastStatus, { running: 1, desired: 2 })
    }))

  it.effect("the activator: jobs it saw at zero count before the consumer's; it listens while there is room", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      yield* t.step
      assert.strictEqual(yield* Ref.get(t.listening), true)
      yield* t.see(2)
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["start w0", "start w1"])
      assert.match((yield* t.events)[0]!.reason, /activator saw 2 new/)
      assert.strictEqual(yield* Ref.get(t.listening), true)
    }))

  it.effect("the shared budget: no more starts than it grants; the activator listens at zero though nothing is granted then", () =>
    Effect.gen(function*() {
      const asked: Array<number> = []
      const t = yield* setup(q, (wanted) => Effect.sync(() => {
        asked.push(wanted)
        return Math.min(wanted, 2)
      }))
      yield* t.step
      assert.strictEqual(yield* Ref.get(t.listening), true)
      yield* t.setBacklog(5, 0)
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["start w0", "start w1"])
      assert.deepStrictEqual(asked, [0, 4])
      assert.deepInclude(yield* t.lastStatus, { wanted: 4, granted: 2 })
      assert.match((yield* t.events)[0]!.reason, /starting 2 \(budget grant 2\)$/)
    }))

  it.effect("an override caps the concurrent job workers; when it ends, maxReplicas applies again", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      yield* Ref.set(t.override, { replicas: 1, untilMs: 5_000 })
      yield* t.setBacklog(10, 0)
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["start w0"])
      assert.deepInclude((yield* t.lastStatus).override, { replicas: 1 })
      yield* t.report("w0", 1)
      yield* t.setBacklog(9, 1)
      yield* TestClock.adjust("5 seconds")
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["start w0", "start w1", "start w2", "start w3"])
      assert.strictEqual(yield* Ref.get(t.override), null)
    }))

  it.effect("a worker holding a batch counts its jobs; one that has not reported yet counts as taking one", () =>
    Effect.gen(function*() {
      const t = yield* setup()
      yield* t.runtime.add("a", 1)
      yield* t.runtime.add("b", 1)
      yield* t.report("a", 5)
      // a holds 5, b took one but has not said so: nothing to start.
      yield* t.setBacklog(0, 6)
      yield* t.step
      // 2 more arrive: two new workers.
      yield* t.setBacklog(2, 6)
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, ["start w0", "start w1"])
    }))

  it.effect("below activation at zero: nothing starts", () =>
    Effect.gen(function*() {
      const t = yield* setup({ ...q, activation: 3 })
      yield* t.setBacklog(2, 0)
      yield* t.step
      assert.deepStrictEqual(yield* t.runtime.log, [])
      assert.match((yield* t.lastStatus).lastDecision!.reason, /2 jobs below activation 3$/)
      yield* t.setBacklog(3, 0)
      yield* t.step
      assert.strictEqual((yield* t.runtime.log).length, 3)
    }))
})

describe("job-mode plan", () => {
  const base: JobInput = {
    pending: 0, ackPending: 0, seen: 0, alive: 0, draining: 0, busy: 0, idle: 0, idleSettled: 0, held: 0, maxReplicas: 4, override: undefined, granted: undefined,
    activation: 1, nextStartAt: 0, now: 0
  }
  it("starts min(cap - alive, open jobs - idle workers), never negative", () => {
    assert.strictEqual(planJobs({ ...base, pending: 20 }).start, 4)
    assert.strictEqual(planJobs({ ...base, pending: 3, alive: 3, busy: 1, idle: 2, held: 1, ackPending: 1 }).start, 1)
    assert.strictEqual(planJobs({ ...base, pending: 0, alive: 6, busy: 6, held: 6, ackPending: 6, maxReplicas: 2 }).start, 0)
    assert.strictEqual(planJobs({ ...base, pending: 5, granted: 2 }).start, 2)
    assert.match(planJobs({ ...base, pending: 5, granted: 2 }).reason, /budget grant 2/)
  })
  it("drains settled idle workers beyond the open jobs, never one that an open job needs", () => {
    assert.deepInclude(planJobs({ ...base, alive: 3, idle: 3, idleSettled: 3 }), { start: 0, drain: 3, kind: "scale-down" })
    assert.deepInclude(planJobs({ ...base, alive: 3, idle: 3, idleSettled: 3, ackPending: 1 }), { start: 0, drain: 2 })
    assert.deepInclude(planJobs({ ...base, alive: 3, idle: 3, idleSettled: 1, pending: 1 }), { start: 0, drain: 1 })
    assert.deepInclude(planJobs({ ...base, alive: 2, idle: 2, idleSettled: 2, pending: 2 }), { start: 0, drain: 0, kind: "hold" })
    assert.deepInclude(planJobs({ ...base, alive: 2, busy: 2, held: 2, ackPending: 2 }), { start: 0, drain: 0 })
  })
})

describe("job-mode worker env", () => {
  const nats = { url: "nats://127.0.0.1:4222" }
  it("sets JETSCALE_MODE (a queue's env can't change it) and a wait that outlasts the retries; the queue's env may set the wait", () => {
    const env = workerEnv({ ...q, env: { JETSCALE_MODE: "worker", JETSCALE_JOB_WAIT_MS: "5000" } }, "i1", nats, {})
    assert.strictEqual(env.JETSCALE_MODE, "job")
    assert.strictEqual(env.JETSCALE_JOB_WAIT_MS, "5000")
    assert.strictEqual(workerEnv({ ...q, mode: "worker", env: { JETSCALE_MODE: "job" } }, "i1", nats, {}).JETSCALE_MODE, "worker")
    assert.strictEqual(workerEnv({ ...q, mode: "worker" }, "i1", nats, {}).JETSCALE_JOB_WAIT_MS, undefined)
    assert.strictEqual(jobWaitMs({ backoff: { _tag: "list", delays: [Duration.seconds(1)] }, ackWait: Duration.seconds(30) }), 35_000)
    assert.strictEqual(jobWaitMs({ backoff: { _tag: "list", delays: [Duration.seconds(1)] }, ackWait: Duration.seconds(2) }), 30_000)
    assert.strictEqual(jobWaitMs({ backoff: { _tag: "list", delays: [Duration.minutes(2)] }, ackWait: Duration.seconds(30) }), 125_000)
  })
})
