// Workers of queues that are no longer in the config: the scaler shuts them down when it starts
// and after a live reload that removed queues (SIGTERM, `stopTimeout` to finish their jobs, then a kill) and removes the exited ones. Only this
// deployment's workers are listed, so another deployment's queues are never taken for removed ones.
import { Duration, Effect, Schema } from "effect"
import { ShortDuration } from "../config/duration.ts"
import type { QueueConfig } from "../config/model.ts"
import { DEFAULTS } from "../config/schema.ts"
import type { RuntimeDriver } from "../runtime/driver.ts"

/** The grace a removed queue's workers get: its stopTimeout is gone with it, so the default one. */
export const removedQueueStopTimeout: Duration.Duration = Schema.decodeUnknownSync(ShortDuration)(DEFAULTS.stopTimeout)

/** `stopTimeouts`: the grace of queues removed by a live reload (their config was known). */
export const retireRemovedQueues = (runtime: RuntimeDriver, queues: ReadonlyArray<QueueConfig>, stopTimeouts: ReadonlyMap<string, Duration.Duration> = new Map()) => Effect.gen(function*() {
  const known = new Set(queues.map((q) => q.name))
  const orphans = (yield* runtime.list()).filter((w) => !known.has(w.queue))
  yield* Effect.forEach(orphans, (w) => Effect.gen(function*() {
    if (w.state !== "exited") {
      const grace = stopTimeouts.get(w.queue) ?? removedQueueStopTimeout
      yield* Effect.logWarning(`queue ${w.queue} is no longer in the config: shutting down its worker ${w.name} (up to ${Duration.format(grace)} to finish its jobs)`)
      yield* runtime.stop(w, grace)
    } else {
      yield* runtime.remove(w)
    }
  }).pipe(Effect.catch((e) => Effect.logError(`queue ${w.queue}: ${e.message}`))), { concurrency: "unbounded", discard: true })
})
