// One queue's reconcile loop: a reconcile step (./reconcile.ts) on every tick of `scaler.interval`
// (the scaler's shared ticker, after its one read of every stream's level) and on every activator
// wake. A quiet queue (at zero, no override, no schedule, nothing in its stream, nothing seen by its activator)
// is not ticked but for one step every `quietRefresh`: 1,000 idle queues cost next to nothing.
// A step that fails or dies, whatever it threw, is logged with the queue's name, counted, and
// shown in the queue's status and /readyz until a step succeeds again; the next tick runs as usual.
import { Cause, Clock, Effect, Fiber, Queue, Ref } from "effect"
import { randomBytes } from "node:crypto"
import type { QueueConfig } from "../config/model.ts"
import { readBacklog, readOldestWaitingAt } from "../jetstream/backlog.ts"
import type { Nats } from "../nats/connection.ts"
import type { NatsEndpoint } from "../nats/credentials.ts"
import type { RuntimeDriver } from "../runtime/driver.ts"
import * as Metrics from "../telemetry/metrics.ts"
import { makeActivator } from "./activator.ts"
import { measureColdStart } from "./cold-start.ts"
import { publishScaleEvent, type ScaleEvent } from "./events.ts"
import type { OverrideState } from "./override.ts"
import { makeJobReconcile } from "./job-reconcile.ts"
import { makeReconcile, type QueueStatus } from "./reconcile.ts"
import { workerEnv } from "./worker-env.ts"
import type { WorkerStates } from "./worker-states.ts"

export { initialStatus, type Override, type QueueStatus } from "./reconcile.ts"

/** What the scaler service holds of each queue loop: its wake-up signal, its override, and whether it is quiet. */
export interface QueueControl {
  readonly signal: Queue.Queue<"tick" | "wake">
  readonly override: Ref.Ref<OverrideState | null>
  /** Whether a tick now would be skipped (see `skipsStep`): the shared ticker then does not send it. Set by the loop. */
  readonly quiet: Ref.Ref<Effect.Effect<boolean>>
}

export const makeQueueControl = Effect.gen(function*() {
  return {
    signal: yield* Queue.sliding<"tick" | "wake">(1),
    override: yield* Ref.make<OverrideState | null>(null),
    quiet: yield* Ref.make(Effect.succeed(false))
  } satisfies QueueControl
})

export interface QueueLoopDeps {
  readonly nats: Nats["Service"]
  readonly runtime: RuntimeDriver
  /** Where workers connect, as the worker user (never the scaler's credentials). */
  readonly workerNats: NatsEndpoint
  readonly control: QueueControl
  /** Messages in the queue's stream at the last shared read; undefined when unknown. */
  readonly level: Effect.Effect<number | undefined>
  readonly workerStates: WorkerStates
  readonly report: (status: QueueStatus) => Effect.Effect<void>
  /** Marks the queue's reconcile steps as failing (with the error) or healthy again (null). */
  readonly reportError: (error: string | null) => Effect.Effect<void>
  /** Told of each scale decision (after it is published). */
  readonly onDecision?: (event: ScaleEvent) => Effect.Effect<void>
  /** The shared budget (`scaler.maxReplicas`): what the queue may run, given what it wants. */
  readonly grant?: (wanted: number, floor?: number) => Effect.Effect<number>
  /** `scaler.timezone`: of schedules without their own. */
  readonly timezone?: string
}

const newInstanceId = () => randomBytes(4).toString("hex")

/** A quiet queue still gets a full step this often (gauges, anything the level read cannot see). */
export const quietRefreshMs = 30_000

/** One line for a failed step: the error's name and message, whether it was a typed failure or a defect. */
export const causeText = (cause: Cause.Cause<unknown>): string => {
  const e = Cause.squash(cause)
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e)
}

/**
 * A step that never fails: a failure or a defect (anything it threw) is logged with the queue's
 * name, counted, and reported as the queue's error until a step succeeds again.
 */
export const guardStep = <E, R>(queue: string, step: Effect.Effect<void, E, R>, reportError: (error: string | null) => Effect.Effect<void>) =>
  step.pipe(
    Effect.andThen(reportError(null)),
    Effect.catchCause((cause) => Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : Effect.gen(function*() {
      const text = causeText(cause)
      yield* Effect.logError(`queue ${queue}: reconcile step failed: ${text}`, cause)
      yield* Metrics.recordReconcileError(queue)
      yield* reportError(text)
    }))
  )

/**
 * Whether the shared ticker may skip the queue's tick: the queue is quiet (at zero, no override, nothing seen
 * by its activator, an empty stream at the last level read) and its last full step is recent.
 */
export const skipsStep = (input: {
  readonly last: { readonly status: QueueStatus; readonly atMs: number }
  readonly seen: boolean
  readonly level: number | undefined
  readonly nowMs: number
}): boolean => !input.seen && atRest(input.last.status, input.level) && input.nowMs - input.last.atMs < quietRefreshMs

/**
 * At zero (frozen replicas allowed), wanting none (a queue the budget holds at zero wants some), no
 * job seen pending, no override, no failing step, and an empty stream at the last level read.
 */
export const atRest = (s: QueueStatus, level: number | undefined): boolean =>
  level === 0 && (s.pending ?? 0) === 0 && s.wanted === 0 && s.desired === 0 && s.running === 0 && s.draining === 0 && s.suspending === 0 && s.override === null && s.reconcileError === null

/** Runs until interrupted. */
export const runQueueLoop = (q: QueueConfig, deps: QueueLoopDeps) => Effect.gen(function*() {
  const { nats, runtime } = deps
  const { signal } = deps.control
  const activator = makeActivator(nats.nc, q.subjects, () => void Queue.offerUnsafe(signal, "wake"))
  yield* Effect.addFinalizer(() => activator.close)
  yield* Metrics.registerQueue(q.name)

  // One cold-start measurement per queue: a wake whose jobs were never acked does not wait on the next one's ack.
  const coldStart = yield* Ref.make<Fiber.Fiber<void> | undefined>(undefined)
  const scope = yield* Effect.scope
  const onWake = (seenAtMs: number) => Effect.gen(function*() {
    const previous = yield* Ref.get(coldStart)
    if (previous) yield* Fiber.interrupt(previous)
    yield* Ref.set(coldStart, yield* Effect.forkIn(measureColdStart(nats.nc, q, seenAtMs), scope))
  })

  // The last step that completed: its status and when (undefined after a failed step).
  const lastStep = yield* Ref.make<{ readonly status: QueueStatus; readonly atMs: number } | undefined>(undefined)
  // `mode: job`: one worker per job (./job-reconcile.ts); otherwise replicas scaled by the policy.
  const { step } = yield* (q.mode === "job" ? makeJobReconcile : makeReconcile)({
    q,
    runtime,
    backlog: readBacklog(nats.jsm, q),
    oldestWaitingAt: (backlog) => readOldestWaitingAt(nats.jsm, q.stream, backlog),
    ...(deps.grant ? { grant: deps.grant } : {}),
    ...(deps.timezone ? { timezone: deps.timezone } : {}),
    workerStates: deps.workerStates,
    activator,
    override: deps.control.override,
    workerEnv: (instance) => workerEnv(q, instance, deps.workerNats),
    newInstanceId,
    publishEvent: (event) => publishScaleEvent(nats.nc, event).pipe(Effect.andThen(deps.onDecision?.(event) ?? Effect.void)),
    onWake,
    report: (status) => Effect.gen(function*() {
      yield* Ref.set(lastStep, { status, atMs: yield* Clock.currentTimeMillis })
      yield* deps.report(status)
    })
  })

  // Asked by the shared ticker before it sends a tick; a wake is never held back.
  yield* Ref.set(deps.control.quiet, Effect.gen(function*() {
    const last = yield* Ref.get(lastStep)
    // A schedule's floor must rise on time: a scheduled queue is never quiet.
    if (last === undefined || q.schedule.length > 0) return false
    return skipsStep({ last, seen: activator.hasSeen(), level: yield* deps.level, nowMs: yield* Clock.currentTimeMillis })
  }))

  const guarded = guardStep(q.name, step.pipe(Effect.onError(() => Ref.set(lastStep, undefined))), deps.reportError)
  return yield* Queue.take(signal).pipe(Effect.andThen(guarded), Effect.forever)
})
