// Reads a queue's backlog from its consumer over the NATS connection. A missing stream or consumer
// is an error that says how to fix it, never a silent 0.
import type { JetStreamManager } from "@nats-io/jetstream"
import { Effect, Schema } from "effect"
import type { QueueConfig } from "../config/model.ts"
import { describe } from "../nats/connection.ts"
import { isNotFound } from "./errors.ts"

export interface Backlog {
  readonly pending: number
  readonly ackPending: number
  /** pending + ackPending: what the scaler scales on. */
  readonly total: number
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
    total: info.num_pending + info.num_ack_pending
  })))
