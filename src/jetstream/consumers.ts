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

/** The level of a job published by queue name without one: the middle level ([high, normal, low] -> normal, [high, low] -> low). */
export const defaultLevel = (q: Pick<QueueConfig, "levels">): string | undefined =>
  q.levels.length === 0 ? undefined : q.levels[Math.ceil((q.levels.length - 1) / 2)]!.name

/**
 * The subject of a job published by queue name (`enqueue`, the job route): its level's (`level`, or
 * the default level) with priorities, else the queue's first subject; a string problem when the
 * level is not one of the queue's or the queue has no levels.
 */
export const jobSubjectOf = (q: Pick<QueueConfig, "name" | "subjects" | "levels">, level: string | undefined): { readonly subject: string } | string => {
  if (q.levels.length === 0) return level === undefined ? { subject: q.subjects[0]! } : `queue ${q.name} has no priorities`
  const name = level ?? defaultLevel(q)!
  const found = q.levels.find((l) => l.name === name)
  return found ? { subject: found.subject } : `queue ${q.name} has no priority ${JSON.stringify(name.slice(0, 40))} (its levels: ${q.levels.map((l) => l.name).join(", ")})`
}
