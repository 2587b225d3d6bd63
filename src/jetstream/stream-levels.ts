// Every queue's level in one read: the messages in each JetStream stream, from the stream list
// (a few paged requests for the whole account, not one request per queue). In a work-queue stream
// an acked message is gone, so a queue whose stream holds no messages has nothing pending, nothing
// in flight and nothing waiting for the DLQ: the scaler skips its reconcile step (see
// ../scaler/queue-loop.ts). Queues with messages still read their consumer for the exact split.
import type { JetStreamManager, StreamInfo } from "@nats-io/jetstream"
import { Effect, Schema } from "effect"
import { attemptWith } from "../effect/attempt.ts"

export class StreamLevelsError extends Schema.TaggedError<StreamLevelsError>()("StreamLevelsError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Unknown)
}) {}

const attempt = attemptWith((message, cause) => new StreamLevelsError({ message, cause }))

/** Stream name -> messages it holds now. */
export type StreamLevels = ReadonlyMap<string, number>

/** Every stream's info, by name, in a few paged requests. */
export const readStreams = <A>(jsm: JetStreamManager, pick: (info: StreamInfo) => A): Effect.Effect<ReadonlyMap<string, A>, StreamLevelsError> =>
  attempt("list streams", async () => {
    const out = new Map<string, A>()
    for await (const info of jsm.streams.list()) out.set(info.config.name, pick(info))
    return out
  })

export const readStreamLevels = (jsm: JetStreamManager): Effect.Effect<StreamLevels, StreamLevelsError> =>
  readStreams(jsm, (info) => info.state.messages)
