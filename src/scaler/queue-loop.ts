// One queue's reconcile loop: on every tick of `scaler.interval` (a Schedule) and on every activator
// wake, read the backlog, ask the policy, and make the runtime match: start missing workers (with a
// crash-loop backoff), replace dead ones, and drain surplus ones gracefully in the background.
import { Clock, Duration, Effect, Fiber, Queue, Ref, Schedule } from "effect"
import { randomBytes } from "node:crypto"
import type { QueueConfig } from "../config/model.ts"
import type { NatsEndpoint } from "../nats/credentials.ts"
import { readBacklog } from "../jetstream/backlog.ts"
import * as Metrics from "../telemetry/metrics.ts"
import * as Tracing from "../telemetry/tracing.ts"
import { measureColdStart } from "./cold-start.ts"
import type { Nats } from "../nats/connection.ts"
import type { RuntimeDriver, WorkerInfo } from "../runtime/driver.ts"
import { makeActivator } from "./activator.ts"
import { canStart, noCrashes, recordCrash, recordHealthy } from "./crash-backoff.ts"
import { publishScaleEvent } from "./events.ts"
import { overrideDecision, type OverrideState } from "./override.ts"
import { decide, fromQueueConfig, initialState, type Decision, type PolicyState } from "./policy.ts"
import { workerEnv } from "./worker-env.ts"

/** A manual override as the API shows it. */
export interface Override {
  readonly replicas: number
  /** RFC 3339. */
  readonly until: string
}

/** One queue as the scaler sees it (`status`, the admin API). */
export interface QueueStatus {
  readonly name: string
  readonly stream: string
  readonly consumer: string
  readonly pending: number | null
  readonly ackPending: number | null
  readonly desired: number
  readonly running: number
  /** Same as `running`, under the name `status --json` uses. */
  readonly replicas: number
  readonly lastDecision: { readonly kind: string; readonly reason: string; readonly at: string } | null
  readonly override: Override | null
}

/** What the scaler service holds of each queue loop: its wake-up signal and its override. */
export interface QueueControl {
  readonly signal: Queue.Queue<"tick" | "wake">
  readonly override: Ref.Ref<OverrideState | null>
}

export const makeQueueControl = Effect.gen(function*() {
  return { signal: yield* Queue.sliding<"tick" | "wake">(1), override: yield* Ref.make<OverrideState | null>(null) } satisfies QueueControl
})

export const initialStatus = (q: QueueConfig): QueueStatus => ({
  name: q.name, stream: q.stream, consumer: q.consumer, pending: null, ackPending: null, desired: 0, running: 0, replicas: 0, lastDecision: null, override: null
})

export interface QueueLoopDeps {
  readonly nats: Nats["Service"]
  readonly runtime: RuntimeDriver
  /** Where workers connect, as the worker user (never the scaler's credentials). */
  readonly workerNats: NatsEndpoint
  readonly interval: Duration.Duration
  readonly control: QueueControl
  readonly report: (status: QueueStatus) => Effect.Effect<void>
}

const newInstanceId = () => randomBytes(4).toString("hex")

/** Runs until interrupted; every reconcile error is logged and retried on the next tick. */
export const runQueueLoop = (q: QueueConfig, deps: QueueLoopDeps) => Effect.gen(function*() {
  const { nats, runtime } = deps
  const policy = fromQueueConfig(q)
  const { signal } = deps.control
  const activator = makeActivator(nats.nc, q.subjects, () => void Queue.offerUnsafe(signal, "wake"))
  yield* Effect.addFinalizer(() => activator.close)

  yield* Metrics.registerQueue(q.name)
  // Unknown until the runtime has been listed once: then the running workers are adopted.
  const state = yield* Ref.make<PolicyState | undefined>(undefined)
  const crashes = yield* Ref.make(noCrashes)
  // Workers being drained, and dead ones already counted as crashes (by runtime id).
  const stopping = new Set<string>()
  const counted = new Set<string>()
  let lastDecision: QueueStatus["lastDecision"] = null
  let coldStart: Fiber.Fiber<void> | undefined

  /** The override in force; one whose time is up is dropped here, and the policy resumes. */
  const currentOverride = (now: number) => Effect.gen(function*() {
    const o = yield* Ref.get(deps.control.override)
    if (o === null || now < o.untilMs) return o
    yield* Ref.set(deps.control.override, null)
    yield* Effect.logInfo(`queue ${q.name}: manual override of ${o.replicas} replica(s) ended; the policy resumes`)
    return null
  })

  const adopt = (running: ReadonlyArray<WorkerInfo>, now: number) => Effect.gen(function*() {
    if (running.length > 0) yield* Effect.logInfo(`queue ${q.name}: adopted ${running.length} running worker(s)`)
    return running.length > 0 ? { ...initialState(running.length), lastChangeAt: now } : initialState(0)
  })

  /** Starts one worker; false when it could not be started. Its startup joins the current trace. */
  const startWorker = Effect.gen(function*() {
    const instance = newInstanceId()
    const traceparent = yield* Tracing.currentTraceparent
    const env = { ...workerEnv(q, instance, deps.workerNats), ...(traceparent ? { JETSCALE_TRACEPARENT: traceparent } : {}) }
    return yield* runtime.start({ queue: q, instance, env }).pipe(
      Effect.tap((w) => Effect.logInfo(`queue ${q.name}: started worker ${w.name}`)),
      Effect.as(true),
      Effect.catch((e) => Effect.logError(`queue ${q.name}: ${e.message}`).pipe(Effect.as(false)))
    )
  }).pipe(Effect.withSpan("worker start", { attributes: { "jetscale.queue": q.name, "jetscale.runtime": runtime.name, ...(q.image ? { "container.image.name": q.image } : {}) } }))

  const stopWorker = (w: WorkerInfo) => {
    stopping.add(w.id)
    return runtime.stop(w, q.stopTimeout).pipe(
      Effect.tap(() => Effect.logInfo(`queue ${q.name}: stopped worker ${w.name}`)),
      Effect.catch((e) => Effect.logError(`queue ${q.name}: ${e.message}`)),
      Effect.ensuring(Effect.sync(() => stopping.delete(w.id))),
      Effect.forkScoped
    )
  }

  const crashed = (now: number, what: string) => Effect.gen(function*() {
    yield* Metrics.recordWorkerCrash(q.name)
    const next = yield* Ref.updateAndGet(crashes, (s) => recordCrash(s, now))
    yield* Effect.logWarning(`queue ${q.name}: ${what}; ${next.consecutive} in a row, next start in ${next.nextStartAt - now}ms or later`)
  })

  /** Removes workers that exited without being asked to; each one feeds the crash-loop backoff once. */
  const reapExited = (workers: ReadonlyArray<WorkerInfo>, now: number) =>
    Effect.forEach(workers.filter((w) => w.state === "exited" && !stopping.has(w.id)), (w) => Effect.gen(function*() {
      if (!counted.has(w.id)) {
        counted.add(w.id)
        yield* crashed(now, `worker ${w.name} ${w.exitCode === 0 ? "exited by itself" : `died (exit ${w.exitCode ?? "?"})`}: unexpected exit`)
      }
      yield* runtime.remove(w).pipe(
        Effect.tap(() => Effect.sync(() => counted.delete(w.id))),
        Effect.catch((e) => Effect.logError(`queue ${q.name}: ${e.message}`))
      )
    }), { discard: true })

  /** Starts or drains workers towards the decision; returns how many run (or start) afterwards. */
  const converge = (decision: Decision, running: ReadonlyArray<WorkerInfo>, now: number) => Effect.gen(function*() {
    const missing = decision.replicas - running.length
    if (missing > 0) {
      if (!canStart(yield* Ref.get(crashes), now)) return running.length
      const started = (yield* Effect.forEach(Array.from({ length: missing }), () => startWorker, { concurrency: "unbounded" })).filter(Boolean).length
      if (started < missing) yield* crashed(now, `${missing - started} of ${missing} worker start(s) failed`)
      return running.length + started
    }
    if (missing < 0) {
      // Newest first: the oldest workers have warm caches and connections.
      const surplus = [...running].sort((a, b) => b.startedAt - a.startedAt).slice(0, -missing)
      yield* Effect.forEach(surplus, stopWorker, { discard: true })
    }
    return Math.min(running.length, decision.replicas)
  })

  const reconcile = Effect.gen(function*() {
    const backlog = yield* readBacklog(nats.jsm, q)
    const { count: seen, first: wakeHeaders, firstAt } = yield* activator.takeSeen
    const workers = yield* runtime.list(q.name)
    const now = yield* Clock.currentTimeMillis
    yield* reapExited(workers, now)
    const running = workers.filter((w) => w.state === "running" && !stopping.has(w.id))
    yield* Ref.update(crashes, (s) => recordHealthy(s, running.map((w) => w.startedAt), now))
    const current = (yield* Ref.get(state)) ?? (yield* adopt(running, now))
    // At zero, a message the activator saw may not be in the consumer's counts yet.
    const effective = current.replicas === 0 ? Math.max(backlog.total, seen) : backlog.total
    const override = yield* currentOverride(now)
    const decision = overrideDecision(override, current, now) ?? decide(effective, current, policy, now)
    yield* Ref.set(state, decision.state)
    const changed = decision.replicas !== current.replicas
    if (changed) {
      lastDecision = { kind: decision.kind, reason: decision.reason, at: new Date(now).toISOString() }
      yield* Metrics.recordScaleEvent(q.name, decision.replicas > current.replicas ? "up" : "down")
      if (decision.kind === "wake") {
        // One measurement per queue: a wake whose jobs were never acked does not wait on the next one's ack.
        if (coldStart) yield* Fiber.interrupt(coldStart)
        coldStart = yield* Effect.forkScoped(measureColdStart(nats.nc, q, firstAt ?? now))
      }
    }
    const act = Effect.gen(function*() {
      if (changed) {
        yield* publishScaleEvent(nats.nc, {
          queue: q.name, from: current.replicas, to: decision.replicas, direction: decision.replicas > current.replicas ? "up" : "down",
          kind: decision.kind, reason: `pending ${backlog.pending} + ackPending ${backlog.ackPending}${seen > 0 ? ` (activator saw ${seen} new)` : ""}: ${decision.reason}`,
          backlog: effective, pending: backlog.pending, ackPending: backlog.ackPending, at: new Date(now).toISOString()
        })
      }
      return yield* converge(decision, running, now)
    })
    // A scale decision is a span; a wake-up from zero joins (and links to) the trace of the job that woke it.
    const woke = decision.kind === "wake" ? Tracing.externalSpanFrom(wakeHeaders) : undefined
    const runningNow = yield* (changed
      ? act.pipe(Effect.withSpan(`scale ${q.name}`, {
        attributes: { "jetscale.queue": q.name, "jetscale.backlog": effective, "jetscale.from": current.replicas, "jetscale.to": decision.replicas, "jetscale.kind": decision.kind, "jetscale.reason": decision.reason },
        ...(woke ? { parent: woke, links: [{ span: woke, attributes: { "jetscale.link": "the job that woke the queue" } }] } : { root: true })
      }))
      : act)
    yield* activator.set(decision.replicas === 0)
    yield* Metrics.recordQueue(q.name, { pending: backlog.pending, ackPending: backlog.ackPending, desired: decision.replicas, running: runningNow })
    yield* deps.report({
      ...initialStatus(q), pending: backlog.pending, ackPending: backlog.ackPending, desired: decision.replicas, running: runningNow, replicas: runningNow, lastDecision,
      override: override ? { replicas: override.replicas, until: new Date(override.untilMs).toISOString() } : null
    })
  }).pipe(Effect.catch((e) => Effect.logWarning(`queue ${q.name}: ${e.message}`)))

  yield* Queue.offer(signal, "tick").pipe(Effect.repeat(Schedule.spaced(deps.interval)), Effect.forkScoped)
  return yield* Queue.take(signal).pipe(Effect.andThen(reconcile), Effect.forever)
})
