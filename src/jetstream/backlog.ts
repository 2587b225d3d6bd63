// Reads a queue's backlog from its consumer over the NATS connection. A missing stream or consumer
// is an error that says how to fix it, never a silent 0.
import type { JetStreamManager, MsgRequest } from "@nats-io/jetstream"
import { Effect, Schema } from "effect"
import type { QueueConfig } from "../config/model.ts"
import { describe } from "../nats/connection.ts"
import { isNotFound } from "./errors.ts"

export interface Backlog {
  readonly pending: number
  readonly ackPending: number
  /** pending + ackPending: what the scaler scales on. */
  readonly total: number
  /** Stream sequence of the last message delivered to the workers (the next waiting one is after it). */
  readonly deliveredSeq?: number
}

export class BacklogError extends Schema.TaggedError<BacklogError>()("BacklogError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Unknown)
}) {}

export const readBacklog = (jsm: JetStreamManager, q: Pick<QueueConfig, "stream" | "consumer">): Effect.Effect<Backlog, BacklogError> =>
  Effect.tryPromise({
    try: () => jsm.consumers.info(q.stream, q.consumer),
    catch: (cause) => new BacklogError({
      message: isNotFound(cause)
        ? `stream ${q.stream}: consumer "${q.consumer}" missing (run jetscale up to provision)`
        : `stream ${q.stream}: consumer "${q.consumer}": ${describe(cause)}`,
      cause
    })
  }).pipe(Effect.map((info) => ({
    pending: info.num_pending,
    ackPending: info.num_ack_pending,
    total: info.num_pending + info.num_ack_pending,
    deliveredSeq: info.delivered.stream_seq
  })))

/**
 * When the oldest job not yet delivered was published (ms epoch), or undefined when none waits. On a
 * work queue it is the first stored message after the last delivered one.
 */
export const readOldestWaitingAt = (jsm: JetStreamManager, stream: string, backlog: Backlog): Effect.Effect<number | undefined, BacklogError> =>
  backlog.pending === 0 || backlog.deliveredSeq === undefined
    ? Effect.succeed(undefined)
    : Effect.tryPromise({
      // The server's STREAM.MSG.GET takes `next_by_subj` with `seq` (2.9 too); nats.js types it for direct gets only.
      try: () => jsm.streams.getMessage(stream, { seq: backlog.deliveredSeq! + 1, next_by_subj: ">" } as unknown as MsgRequest),
      catch: (cause) => new BacklogError({ message: `stream ${stream}: the oldest waiting job: ${describe(cause)}`, cause })
    }).pipe(Effect.map((m) => m === null || m === undefined ? undefined : m.time.getTime()))
