// How many delayed jobs each queue has waiting (for `jetscale status`): one stream info request
// with a subject filter (paged by nats.js when there are many queues). No stream yet: no delayed job.
import type { JetStreamManager } from "@nats-io/jetstream"
import { Effect, Schema } from "effect"
import { lookupWith } from "../effect/attempt.ts"
import { delayedStream, delayedSubject, delayedSubjects } from "../jetstream/names.ts"

export class DelayedCountsError extends Schema.TaggedError<DelayedCountsError>()("DelayedCountsError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Unknown)
}) {}

const lookup = lookupWith((message, cause) => new DelayedCountsError({ message, cause }))
const prefix = delayedSubject("")

/** Queue name -> delayed jobs it has in JETSCALE_DELAYED (due ones not released yet included); queues with none are absent. */
export const delayedCounts = (jsm: JetStreamManager): Effect.Effect<ReadonlyMap<string, number>, DelayedCountsError> =>
  lookup(`stream ${delayedStream}`, () => jsm.streams.info(delayedStream, { subjects_filter: delayedSubjects })).pipe(
    Effect.map((info) => new Map(Object.entries(info?.state.subjects ?? {}).flatMap(([subject, n]) =>
      subject.startsWith(prefix) && n > 0 ? [[subject.slice(prefix.length), n] as const] : []))))
