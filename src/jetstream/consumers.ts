// The consumers of a queue's stream: the one `workers` consumer, or with `priorities` one consumer
// per level, filtered on its level's subject, highest level first.
import type { QueueConfig } from "../config/model.ts"

export interface QueueConsumer {
  readonly name: string
  /** The level's subject; none for the single `workers` consumer. */
  readonly filter?: string
  /** The level's name; none for the single `workers` consumer. */
  readonly level?: string
}

export const consumersOf = (q: Pick<QueueConfig, "consumer" | "levels">): ReadonlyArray<QueueConsumer> =>
  (q.levels ?? []).length > 0
    ? q.levels.map((l) => ({ name: l.consumer, filter: l.subject, level: l.name }))
    : [{ name: q.consumer }]
