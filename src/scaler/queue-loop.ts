// One queue's reconcile loop: a reconcile step (./reconcile.ts) on every tick of `scaler.interval`
// (a Schedule) and on every activator wake. A step that fails or dies, whatever it threw, is logged
// with the queue's name, counted, and shown in the queue's status and /readyz until a step succeeds
// again; the next tick runs as usual.
import { Cause, Duration, Effect, Fiber, Queue, Ref, Schedule } from "effect"
import { randomBytes } from "node:crypto"
import type { QueueConfig } from "../config/model.ts"
import { readBacklog } from "../jetstream/backlog.ts"
import type { Nats } from "../nats/connection.ts"
import type { NatsEndpoint } from "../nats/credentials.ts"
import type { RuntimeDriver } from "../runtime/driver.ts"
import * as Metrics from "../telemetry/metrics.ts"
import { makeActivator } from "./activator.ts"
import { measureColdStart } from "./cold-start.ts"
import { publishScaleEvent } from "./events.ts"
import type { OverrideState } from "./override.ts"
import { makeReconcile, type QueueStatus } from "./reconcile.ts"
import { workerEnv } from "./worker-env.ts"
import type { WorkerStates } from "./worker-states.ts"

export { initialStatus, type Override, type QueueStatus } from "./reconcile.ts"

/** What the scaler service holds of each queue loop: its wake-up signal and its override. */
export interface QueueControl {
  readonly signal: Queue.Queue<"tick" | "wake">
  readonly override: Ref.Ref<OverrideState | null>
}

export const makeQueueControl = Effect.gen(function*() {
  return { signal: yield* Queue.sliding<"tick" | "wake">(1), override: yield* Ref.make<OverrideState | null>(null) } satisfies QueueControl
})

export interface QueueLoopDeps {
  readonly nats: Nats["Service"]
  readonly runtime: RuntimeDriver
  /** Where workers connect, as the worker user (never the scaler's credentials). */
  readonly workerNats: NatsEndpoint
  readonly interval: Duration.Duration
  readonly control: QueueControl
  readonly workerStates: WorkerStates
  readonly report: (status: QueueStatus) => Effect.Effect<void>
  /** Marks the queue's reconcile steps as failing (with the error) or healthy again (null). */
  readonly reportError: (error: string | null) => Effect.Effect<void>
}

const newInstanceId = () => randomBytes(4).toString("hex")

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

  const { step } = yield* makeReconcile({
    q,
    runtime,
    backlog: readBacklog(nats.jsm, q),
    workerStates: deps.workerStates,
    activator,
    override: deps.control.override,
    workerEnv: (instance) => workerEnv(q, instance, deps.workerNats),
    newInstanceId,
    publishEvent: (event) => publishScaleEvent(nats.nc, event),
    onWake,
    report: deps.report
  })

  yield* Queue.offer(signal, "tick").pipe(Effect.repeat(Schedule.spaced(deps.interval)), Effect.forkScoped)
  return yield* Queue.take(signal).pipe(Effect.andThen(guardStep(q.name, step, deps.reportError)), Effect.forever)
})
