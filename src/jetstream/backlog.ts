// Reads a queue's backlog from its consumer (or its levels' consumers) over the NATS connection. A
// missing stream or consumer is an error that says how to fix it, never a silent 0.
import type { JetStreamManager, MsgRequest } from "@nats-io/jetstream"
import { Effect, Schema } from "effect"
import type { QueueConfig } from "../config/model.ts"
import { describe } from "../nats/connection.ts"
import { consumersOf } from "./consumers.ts"
import { isNotFound } from "./errors.ts"

/** One priority level's share of a queue's backlog. */
export interface LevelBacklog {
  readonly level: string
  readonly pending: number
  readonly ackPending: number
}

export interface Backlog {
  readonly pending: number
  readonly ackPending: number
  /** pending + ackPending: what the scaler scales on (every level's, with priorities). */
  readonly total: number
  /** Jobs that ever entered the queue (a sequence): consecutive reads give the arrival rate. */
  readonly entered?: number
  /** With priorities: each level's counts, highest first. */
  readonly levels?: ReadonlyArray<LevelBacklog>
  /** Per consumer (one, or one per level): where its next waiting job is looked for. */
  readonly next?: ReadonlyArray<{ readonly afterSeq: number; readonly filter: string; readonly pending: number }>
}

export class BacklogError extends Schema.TaggedError<BacklogError>()("BacklogError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Unknown)
}) {}

const consumerInfo = (jsm: JetStreamManager, stream: string, consumer: string) => Effect.tryPromise({
  try: () => jsm.consumers.info(stream, consumer),
  catch: (cause) => new BacklogError({
    message: isNotFound(cause)
      ? `stream ${stream}: consumer "${consumer}" missing (run jetscale up to provision)`
      : `stream ${stream}: consumer "${consumer}": ${describe(cause)}`,
    cause
  })
})

/** The queue's backlog from its consumer, or summed over its levels' consumers. */
export const readBacklog = (jsm: JetStreamManager, q: Pick<QueueConfig, "stream" | "consumer" | "levels">): Effect.Effect<Backlog, BacklogError> =>
  Effect.gen(function*() {
    const consumers = consumersOf(q)
    const infos = yield* Effect.forEach(consumers, (c) => consumerInfo(jsm, q.stream, c.name), { concurrency: "unbounded" })
    const pending = infos.reduce((n, i) => n + i.num_pending, 0)
    const ackPending = infos.reduce((n, i) => n + i.num_ack_pending, 0)
    const next = infos.map((i, k) => ({ afterSeq: i.delivered.stream_seq, filter: consumers[k]!.filter ?? ">", pending: i.num_pending }))
    if (consumers.length === 1) return { pending, ackPending, total: pending + ackPending, entered: infos[0]!.delivered.stream_seq + pending, next }
    // Levels interleave in the stream: the stream's last sequence counts what entered.
    const stream = yield* Effect.tryPromise({
      try: () => jsm.streams.info(q.stream),
      catch: (cause) => new BacklogError({ message: `stream ${q.stream}: ${describe(cause)}`, cause })
    })
    return {
      pending, ackPending, total: pending + ackPending, entered: stream.state.last_seq, next,
      levels: infos.map((i, k) => ({ level: consumers[k]!.level!, pending: i.num_pending, ackPending: i.num_ack_pending }))
    }
  })

/**
 * When the oldest job not yet delivered was published (ms epoch), or undefined when none waits. On a
 * work queue it is the first stored message after the last delivered one (of each level's subject).
 */
export const readOldestWaitingAt = (jsm: JetStreamManager, stream: string, backlog: Backlog): Effect.Effect<number | undefined, BacklogError> =>
  Effect.forEach((backlog.next ?? []).filter((n) => n.pending > 0), (n) => Effect.tryPromise({
    // The server's STREAM.MSG.GET takes `next_by_subj` with `seq` (2.9 too); nats.js types it for direct gets only.
    try: () => jsm.streams.getMessage(stream, { seq: n.afterSeq + 1, next_by_subj: n.filter } as unknown as MsgRequest),
    catch: (cause) => new BacklogError({ message: `stream ${stream}: the oldest waiting job: ${describe(cause)}`, cause })
  }), { concurrency: "unbounded" }).pipe(Effect.map((found) => {
    const times = found.flatMap((m) => (m === null || m === undefined ? [] : [m.time.getTime()]))
    return times.length === 0 ? undefined : Math.min(...times)
  }))
