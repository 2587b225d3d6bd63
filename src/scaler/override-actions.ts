// Manual overrides of a running queue (`jetscale scale`, the admin API): pin its replica count for a
// while (bounded by its maxReplicas and the longest ttl) or end the pin; the queue's loop is woken
// at once. A standby refuses them (they belong to the leader).
import { Clock, Duration, Effect, Queue, Ref, Schema, SubscriptionRef } from "effect"
import { formatShortDuration } from "../config/duration.ts"
import { unknownQueueMessage } from "../config/live.ts"
import type { QueueConfig } from "../config/model.ts"
import type { ElectionState } from "./leadership.ts"
import { overrideTtlProblem } from "./override.ts"
import type { QueueControl } from "./queue-loop.ts"

export class OverrideError extends Schema.TaggedError<OverrideError>()("OverrideError", {
  message: Schema.String,
  reason: Schema.Literals(["unknown-queue", "invalid", "standby"])
}) {}

export const makeOverrideActions = (deps: {
  /** The running queue of that name (none while standing by). */
  readonly entryOf: (queue: string) => Effect.Effect<{ readonly control: QueueControl; readonly config: QueueConfig } | undefined>
  readonly queues: Effect.Effect<ReadonlyArray<QueueConfig>>
  readonly election: { readonly id: string; readonly state: SubscriptionRef.SubscriptionRef<ElectionState> }
}) => {
  const { entryOf, election } = deps
  const controlOf = (queue: string) => Effect.gen(function*() {
    const entry = yield* entryOf(queue)
    if (entry) return entry
    const queues = yield* deps.queues
    if (queues.some((q) => q.name === queue)) {
      const { role, leader } = yield* SubscriptionRef.get(election.state)
      return yield* new OverrideError({
        reason: "standby",
        message: role === "leader"
          ? `this scaler (${election.id}) is taking over as leader: try again in a moment`
          : `this scaler (${election.id}) is a standby: send overrides to the leader${leader ? ` (${leader})` : ""}`
      })
    }
    return yield* new OverrideError({ reason: "unknown-queue", message: unknownQueueMessage(queue, queues) })
  })

  const setOverride = Effect.fn("Scaler.setOverride")(function*(queue: string, replicas: number, ttl: Duration.Duration) {
    const { control, config: q } = yield* controlOf(queue)
    const max = q.maxReplicas
    if (!Number.isInteger(replicas) || replicas < 0 || replicas > max) {
      return yield* new OverrideError({ reason: "invalid", message: `replicas: expected an integer from 0 to ${max} (maxReplicas of queue ${queue}), got ${replicas}` })
    }
    const problem = overrideTtlProblem(ttl)
    if (problem !== undefined) return yield* new OverrideError({ reason: "invalid", message: `ttl: ${problem}, got ${formatShortDuration(ttl)}` })
    const untilMs = (yield* Clock.currentTimeMillis) + Duration.toMillis(ttl)
    yield* Ref.set(control.override, { replicas, untilMs })
    yield* Queue.offer(control.signal, "wake")
    yield* Effect.logInfo(`queue ${queue}: manual override to ${replicas} replica(s) for ${Duration.format(ttl)}`)
    return { replicas, until: new Date(untilMs).toISOString() }
  })

  const clearOverride = Effect.fn("Scaler.clearOverride")(function*(queue: string) {
    const { control } = yield* controlOf(queue)
    const had = (yield* Ref.getAndSet(control.override, null)) !== null
    if (had) {
      yield* Queue.offer(control.signal, "wake")
      yield* Effect.logInfo(`queue ${queue}: manual override cleared; the policy resumes`)
    }
    return had
  })

  return { setOverride, clearOverride }
}
