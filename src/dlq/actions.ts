// What the dead-letter path does with one message still stored in a work queue: copy it to the DLQ
// and delete it, or give it back to its queue as a new message. Shared by the advisory processor and
// the sweep, with the stream reads they both need. Deletes erase the message (nats-server writes an
// erase to the message block at once), so a nats-server crash cannot bring back a message moved here.
import type { JetStreamClient, JetStreamManager, MsgRequest, StoredMsg } from "@nats-io/jetstream"
import type { KV } from "@nats-io/kv"
import { Clock, Effect, Schema } from "effect"
import type { QueueConfig } from "../config/model.ts"
import { isMessageGone } from "../jetstream/errors.ts"
import { dlqSubject, errorsBucket } from "../jetstream/names.ts"
import { attemptWith, lookupWith } from "../effect/attempt.ts"
import * as Metrics from "../telemetry/metrics.ts"
import * as Tracing from "../telemetry/tracing.ts"
import { deleteErrorRecord, errorRecordText, readErrorRecord, type ErrorRecord } from "./error-record.ts"
import { carriedHeaders, deadLetterHeaders, deadLetterMsgId, workerLostError, type DeadLetterReason } from "./message.ts"

export class DeadLetterError extends Schema.TaggedError<DeadLetterError>()("DeadLetterError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Unknown)
}) {}

const deadLetterError = (message: string, cause: unknown) => new DeadLetterError({ message, cause })
export const call = attemptWith(deadLetterError)
/** Like `call`, for a stream or consumer that may not exist (null then). */
export const lookup = lookupWith(deadLetterError)

export interface DeadLetterDeps {
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly kv: KV
  readonly queues: ReadonlyArray<QueueConfig>
  /** The deployment's advisories stream (JETSCALE_ADVISORIES for the default one). */
  readonly advisories: string
}

export interface MaxDeliveriesAdvisory {
  readonly stream: string
  readonly consumer: string
  readonly stream_seq: number
  readonly deliveries: number
  readonly timestamp?: string
}

export const isAdvisory = (a: unknown): a is MaxDeliveriesAdvisory => {
  const x = a as Partial<MaxDeliveriesAdvisory> | null
  return typeof x === "object" && x !== null && typeof x.stream === "string" && typeof x.consumer === "string" &&
    Number.isInteger(x.stream_seq) && Number.isInteger(x.deliveries)
}

/** The advisory a stored message holds, or undefined when it is not one. */
export const advisoryOf = (m: { json: <T>() => T }): MaxDeliveriesAdvisory | undefined => {
  try {
    const a = m.json<unknown>()
    return isAdvisory(a) ? a : undefined
  } catch {
    return undefined
  }
}

/** When the advisory was sent, or undefined when it does not say. */
export const advisoryTime = (a: MaxDeliveriesAdvisory): Date | undefined => {
  const at = a.timestamp ? new Date(a.timestamp) : undefined
  return at && !Number.isNaN(at.getTime()) ? at : undefined
}

/**
 * The first message stored at or after `seq` on `subject` (wildcards allowed), or null: one request
 * per message present, however many sequences were deleted in between (STREAM.MSG.GET with
 * `next_by_subj`, nats-server 2.9+).
 */
export const nextStored = (jsm: JetStreamManager, stream: string, seq: number, subject: string) =>
  call(`stream ${stream}: next message from ${seq}`, () =>
    jsm.streams.getMessage(stream, { seq, next_by_subj: subject } as unknown as MsgRequest).catch((e) => {
      if (isMessageGone(e)) return null
      throw e
    }))

/** Deletes a message for good (erased); true when it was there. */
const erase = (jsm: JetStreamManager, stream: string, seq: number) =>
  call(`stream ${stream}: delete message ${seq}`, () => jsm.streams.deleteMessage(stream, seq, true).catch((e) => {
    if (!isMessageGone(e)) throw e
    return false
  }))

export const readRecord = (deps: DeadLetterDeps, q: QueueConfig, seq: number) =>
  call(`KV ${errorsBucket}: read the error of ${q.stream} ${seq}`, () => readErrorRecord(deps.kv, q.stream, seq))

/**
 * Copies a stored message to the DLQ with its last recorded error (read here unless given), then
 * deletes it from its work queue. The DLQ publish is deduplicated (Nats-Msg-Id), so doing this twice
 * makes one entry.
 */
export const deadLetterStored = (deps: DeadLetterDeps, q: QueueConfig, msg: StoredMsg, deliveries: number, reason: DeadLetterReason, known?: ErrorRecord) =>
  Effect.gen(function*() {
    const record = known ?? (yield* readRecord(deps, q, msg.seq))
    const error = record ? errorRecordText(record) : workerLostError
    const headers = deadLetterHeaders(msg.header, {
      queue: q.name, stream: q.stream, subject: msg.subject, streamSeq: msg.seq, deliveries, reason, error,
      failedAt: new Date(yield* Clock.currentTimeMillis)
    })
    const ack = yield* call(`publish to ${dlqSubject(q.name)}`, () =>
      deps.js.publish(dlqSubject(q.name), msg.data, { headers, msgID: deadLetterMsgId(q.stream, msg.seq, msg.time.getTime()) }))
    if (!ack.duplicate) yield* Metrics.recordDeadLetter(q.name, reason)
    yield* erase(deps.jsm, q.stream, msg.seq)
    yield* Effect.promise(() => deleteErrorRecord(deps.kv, q.stream, msg.seq))
    yield* Effect.logInfo(`queue ${q.name}: message ${msg.seq} dead-lettered after ${deliveries} deliveries: ${error}`)
  }).pipe((self) => {
    const parent = Tracing.externalSpanFrom(msg.header)
    return Effect.withSpan(self, `dead-letter ${q.name}`, {
      kind: "producer",
      attributes: { "jetscale.queue": q.name, "jetscale.stream_seq": msg.seq, "jetscale.reason": reason, "jetscale.deliveries": deliveries, "messaging.system": "nats", "messaging.destination.name": dlqSubject(q.name) },
      // The dead-lettering is the last step of the job's trace.
      ...(parent ? { parent } : { root: true })
    })
  })

/**
 * Moves one message from its work queue to the DLQ; false when it is already gone, or when it was
 * stored after `notAfter` (a stream recreated since the advisory: the sequence is another message).
 */
export const deadLetterBySeq = (deps: DeadLetterDeps, q: QueueConfig, seq: number, deliveries: number, reason: DeadLetterReason, notAfter?: Date) =>
  Effect.gen(function*() {
    const msg = yield* call(`stream ${q.stream}: get message ${seq}`, () => deps.jsm.streams.getMessage(q.stream, { seq }).catch((e) => {
      if (isMessageGone(e)) return null
      throw e
    }))
    if (msg === null || (notAfter && msg.time.getTime() > notAfter.getTime())) return false
    yield* deadLetterStored(deps, q, msg, deliveries, reason)
    return true
  })

/** The id of a give-back publish: a repeat (a crash between the publish and the delete) is dropped. */
export const giveBackMsgId = (stream: string, seq: number, storedAtMs: number): string => `jetscale-requeue:${stream}:${seq}:${storedAtMs}`

/**
 * Gives a stuck message back to its queue: republishes its payload and headers to the subject it was
 * published to, as a new message (its deliveries start again), then deletes the original and any
 * error recorded for it.
 */
export const giveBack = (deps: DeadLetterDeps, q: QueueConfig, msg: StoredMsg) => Effect.gen(function*() {
  const ack = yield* call(`give back message ${msg.seq} to ${msg.subject}`, () => deps.js.publish(msg.subject, msg.data, {
    headers: carriedHeaders(msg.header), msgID: giveBackMsgId(q.stream, msg.seq, msg.time.getTime()), expect: { streamName: q.stream }
  }))
  yield* erase(deps.jsm, q.stream, msg.seq)
  yield* Effect.promise(() => deleteErrorRecord(deps.kv, q.stream, msg.seq))
  yield* Effect.logInfo(`queue ${q.name}: message ${msg.seq} was stuck (delivered, not pending, not max-delivered): given back as message ${ack.seq}`)
})

/** Deletes a stored message that already has its DLQ entry (a dead letter whose ack a crash undid). */
export const dropDeadLettered = (deps: DeadLetterDeps, q: QueueConfig, msg: StoredMsg) => Effect.gen(function*() {
  yield* erase(deps.jsm, q.stream, msg.seq)
  yield* Effect.promise(() => deleteErrorRecord(deps.kv, q.stream, msg.seq))
  yield* Effect.logInfo(`queue ${q.name}: message ${msg.seq} is already in the DLQ; removed from the work queue`)
})
