// One reconcile step of a job-mode queue (`mode: job`, like KEDA's ScaledJob): one worker per job,
// started for it and gone when it ends, up to maxReplicas at once. Each step lists the queue's
// workers, reads the backlog, reaps the workers that exited (exit 0: its job is done, retried or
// dead-lettered, or none came; any other exit is a crash, which feeds the crash-loop backoff), and
// starts (or drains idle ones) as ./job-policy.ts says. A worker with a job is never drained or
// stopped: it leaves by itself when its job ends. Same dependencies as ./reconcile.ts; after a
// scaler restart the job workers found running simply count as running until they end.
import { Clock, Effect, Ref } from "effect"
import type { WorkerInfo } from "../runtime/driver.ts"
import * as Metrics from "../telemetry/metrics.ts"
import * as Tracing from "../telemetry/tracing.ts"
import { noCrashes, recordCrash, recordHealthy, type CrashState } from "./crash-backoff.ts"
import { jobCap, planJobs, surplusGraceMs, wantedJobWorkers, type JobInput } from "./job-policy.ts"
import type { OverrideState } from "./override.ts"
import { initialStatus, type QueueStatus, type ReconcileDeps } from "./reconcile.ts"

/** Everything a job-mode queue loop remembers between steps. */
export interface JobLoopState {
  readonly crashes: CrashState
  /** Workers that exited non-zero and were counted as crashes, until they are removed. */
  readonly counted: ReadonlySet<string>
  /** Idle workers drained because no job was left for them (runtime ids), until they are removed. */
  readonly drained: ReadonlySet<string>
  /** Job workers running or started at the end of the last step: fewer now is a scale-down event. */
  readonly desired: number
  readonly lastDecision: QueueStatus["lastDecision"]
}

export const initialJobLoopState: JobLoopState = { crashes: noCrashes, counted: new Set(), drained: new Set(), desired: 0, lastDecision: null }

const without = <A>(set: ReadonlySet<A>, a: A): ReadonlySet<A> => {
  const next = new Set(set)
  next.delete(a)
  return next
}

/** Builds the job-mode step and the Ref it keeps its state in (the shape `makeReconcile` returns). */
export const makeJobReconcile = (deps: ReconcileDeps) => Effect.gen(function*() {
  const { q, runtime } = deps
  const state = yield* Ref.make(initialJobLoopState)
  const log = (line: string) => Effect.logInfo(`queue ${q.name}: ${line}`)

  /** The override in force; one whose time is up is dropped here. */
  const currentOverride = (now: number) => Effect.gen(function*() {
    const o: OverrideState | null = yield* Ref.get(deps.override)
    if (o === null || now < o.untilMs) return o
    yield* Ref.set(deps.override, null)
    yield* log(`manual override of ${o.replicas} concurrent job worker(s) ended; maxReplicas applies again`)
    return null
  })

  const crashed = (now: number, what: string) => Effect.gen(function*() {
    yield* Metrics.recordWorkerCrash(q.name)
    const s = yield* Ref.updateAndGet(state, (s) => ({ ...s, crashes: recordCrash(s.crashes, now) }))
    yield* Effect.logWarning(`queue ${q.name}: ${what}; ${s.crashes.consecutive} in a row, next start in ${s.crashes.nextStartAt - now}ms or later`)
  })

  /**
   * Removes an exited job worker. Exit 0 is the normal end of a job worker (its job acked, handed
   * back for a retry, or dead-lettered; or no job came): no crash, and a start since the last crash
   * that ended well resets the backoff. Any other exit is a crash, counted once.
   */
  const reap = (w: WorkerInfo, now: number) => Effect.gen(function*() {
    const s = yield* Ref.get(state)
    if (w.exitCode === 0) {
      yield* log(`job worker ${w.name} finished (exit 0)`)
      if (s.crashes.lastCrashAt !== null && w.startedAt >= s.crashes.lastCrashAt) yield* Ref.update(state, (s) => ({ ...s, crashes: noCrashes }))
    } else if (!s.counted.has(w.id)) {
      yield* Ref.update(state, (s) => ({ ...s, counted: new Set(s.counted).add(w.id) }))
      yield* crashed(now, `job worker ${w.name} died (exit ${w.exitCode ?? "?"})`)
    }
    yield* runtime.remove(w).pipe(
      Effect.andThen(Ref.update(state, (s) => ({ ...s, counted: without(s.counted, w.id), drained: without(s.drained, w.id) }))),
      Effect.catch((e) => Effect.logError(`queue ${q.name}: ${e.message}`))
    )
  })

  /** Starts one job worker; false when it could not be started. Its startup joins the current trace. */
  const startWorker = Effect.gen(function*() {
    const instance = deps.newInstanceId()
    const traceparent = yield* Tracing.currentTraceparent
    const env = { ...deps.workerEnv(instance), ...(traceparent ? { JETSCALE_TRACEPARENT: traceparent } : {}) }
    return yield* runtime.start({ queue: q, instance, env }).pipe(
      Effect.tap((w) => log(`started job worker ${w.name}`)),
      Effect.as(true),
      Effect.catch((e) => Effect.logError(`queue ${q.name}: ${e.message}`).pipe(Effect.as(false)))
    )
  }).pipe(Effect.withSpan("worker start", { attributes: { "jetscale.queue": q.name, "jetscale.runtime": runtime.name, "jetscale.mode": "job", ...(q.image ? { "container.image.name": q.image } : {}) } }))

  const startWorkers = (n: number, now: number) => Effect.gen(function*() {
    const started = (yield* Effect.forEach(Array.from({ length: n }), () => startWorker, { concurrency: "unbounded" })).filter(Boolean).length
    if (started < n) yield* crashed(now, `${n - started} of ${n} job worker start(s) failed`)
    return started
  })

  const step = Effect.gen(function*() {
    // Workers before the backlog: a job that ends in between then counts once too few (the next
    // step starts its successor) rather than once too many (a worker waiting for nothing).
    const workers = yield* runtime.list(q.name)
    const backlog = yield* deps.backlog
    const now = yield* Clock.currentTimeMillis
    const seen = yield* deps.activator.takeSeen
    const reports = yield* deps.workerStates.of(q.name)
    // A paused worker (left by a former `idle: suspend`) is never touched: it counts as alive.
    const alive = workers.filter((w) => w.state !== "exited")
    yield* Effect.forEach(workers.filter((w) => w.state === "exited"), (w) => reap(w, now), { concurrency: "unbounded", discard: true })
    yield* deps.workerStates.retain(q.name, new Set(alive.map((w) => w.instance)))
    const s = yield* Ref.updateAndGet(state, (s) => ({ ...s, crashes: recordHealthy(s.crashes, alive.map((w) => w.startedAt), now) }))
    const override = yield* currentOverride(now)
    const holding = (w: WorkerInfo) => reports.get(w.instance)?.inFlight ?? 0
    const busy = alive.filter((w) => holding(w) > 0)
    // A job worker reports `draining` once it has its job; with none in flight then, it is leaving.
    const idle = alive.filter((w) => w.state === "running" && !s.drained.has(w.id) && holding(w) === 0 && (reports.get(w.instance)?.state ?? "running") === "running")
    const settled = idle.filter((w) => reports.has(w.instance) && now - w.startedAt >= surplusGraceMs).sort((a, b) => a.startedAt - b.startedAt)
    const draining = alive.filter((w) => s.drained.has(w.id)).length
    const input: JobInput = {
      pending: backlog.pending, ackPending: backlog.ackPending, seen: seen.count, alive: alive.length, draining, busy: busy.length,
      idle: idle.length, idleSettled: settled.length, held: busy.reduce((n, w) => n + holding(w), 0),
      maxReplicas: q.maxReplicas, override: override?.replicas, granted: undefined, activation: q.activation,
      nextStartAt: s.crashes.nextStartAt, now
    }
    const wanted = wantedJobWorkers(input)
    const granted = deps.grant ? yield* deps.grant(wanted) : undefined
    const plan = planJobs({ ...input, granted })
    const at = new Date(now).toISOString()

    const woke = plan.kind === "wake" ? Tracing.externalSpanFrom(seen.first) : undefined
    const started = plan.start === 0 ? 0 : yield* Effect.gen(function*() {
      yield* Metrics.recordScaleEvent(q.name, "up")
      if (plan.kind === "wake") yield* deps.onWake(seen.firstAt ?? now)
      yield* deps.publishEvent({
        queue: q.name, from: alive.length, to: alive.length + plan.start, direction: "up", kind: plan.kind, reason: plan.reason,
        backlog: backlog.total, pending: backlog.pending, ackPending: backlog.ackPending, at
      })
      return yield* startWorkers(plan.start, now)
    }).pipe(
      // A decision is a span; a wake from zero joins (and links to) the trace of the job that woke it.
      Effect.withSpan(`scale ${q.name}`, {
        attributes: {
          "jetscale.queue": q.name, "jetscale.mode": "job", "jetscale.backlog": backlog.total, "jetscale.from": alive.length,
          "jetscale.to": alive.length + plan.start, "jetscale.kind": plan.kind, "jetscale.reason": plan.reason
        },
        ...(woke ? { parent: woke, links: [{ span: woke, attributes: { "jetscale.link": "the job that woke the queue" } }] } : { root: true })
      })
    )

    // Idle workers with no job left for them stop waiting (drained: they exit 0; one that gets a job meanwhile runs it).
    const drainedNow = (yield* Effect.forEach(settled.slice(0, plan.drain), (w) => runtime.drain(w).pipe(
      Effect.andThen(Ref.update(state, (s) => ({ ...s, drained: new Set(s.drained).add(w.id) }))),
      Effect.andThen(log(`draining idle job worker ${w.name}: no job is left for it`)),
      Effect.as(1),
      Effect.catch((e) => Effect.logError(`queue ${q.name}: ${e.message}`).pipe(Effect.as(0)))
    ))).reduce((n, k) => n + k, 0)
    const drainingNow = draining + drainedNow
    const running = alive.length - drainingNow
    const desired = running + started
    let lastDecision = s.lastDecision
    if (plan.start > 0) {
      lastDecision = { kind: plan.kind, reason: plan.reason, at }
    } else if (desired < s.desired) {
      const ended = Math.max(0, s.desired - desired - drainedNow)
      const actions = [...(ended > 0 ? [`${ended} job worker(s) ended`] : []), ...(drainedNow > 0 || plan.unserved > 0 ? [plan.action] : [])]
      const reason = `${plan.situation}: ${actions.join("; ")}`
      lastDecision = { kind: "scale-down", reason, at }
      yield* Metrics.recordScaleEvent(q.name, "down")
      yield* deps.publishEvent({
        queue: q.name, from: s.desired, to: desired, direction: "down", kind: "scale-down", reason,
        backlog: backlog.total, pending: backlog.pending, ackPending: backlog.ackPending, at
      })
    } else if (plan.unserved > 0 && s.lastDecision?.reason !== plan.reason) {
      // Held back (at the cap, the backoff, below activation): the status says why; not an event.
      lastDecision = { kind: "hold", reason: plan.reason, at }
    }
    yield* Ref.update(state, (s) => ({ ...s, desired, lastDecision }))
    // Listening while there is room for another job worker (the budget is asked again at the wake's
    // step: it grants nothing to a queue that wants nothing): a job published now gets its worker at once.
    yield* deps.activator.set(alive.length + started < jobCap(input))
    yield* Metrics.recordQueue(q.name, { pending: backlog.pending, ackPending: backlog.ackPending, desired, running, draining: drainingNow, suspended: 0 })
    yield* deps.report({
      ...initialStatus(q), pending: backlog.pending, ackPending: backlog.ackPending, desired, running, replicas: running, draining: drainingNow,
      lastDecision, override: override ? { replicas: override.replicas, until: new Date(override.untilMs).toISOString() } : null,
      wanted, granted: granted ?? null
    })
  })

  return { step, state }
})
