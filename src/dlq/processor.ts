// The dead-letter processor, a fiber of the scaler: reads MAX_DELIVERIES advisories from
// JETSCALE_ADVISORIES, copies each message to JETSCALE_DLQ (with its last recorded error), deletes it
// from the work queue, then acks the advisory. Handling an advisory twice is harmless: the DLQ publish
// is deduplicated by Nats-Msg-Id and a message already deleted is skipped. On start it also sweeps
// messages that sat max-delivered in a work queue from before.
import { type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream"
import { Kvm, type KV } from "@nats-io/kv"
import { Effect, Schedule, Schema } from "effect"
import type { QueueConfig } from "../config/model.ts"
import { isNotFound } from "../jetstream/errors.ts"
import { advisoriesConsumer, advisoriesStream, dlqSubject, errorsBucket } from "../jetstream/names.ts"
import { describe } from "../nats/connection.ts"
import { deleteErrorRecord, errorRecordText, readErrorRecord } from "./error-record.ts"
import { deadLetterHeaders, deadLetterMsgId, workerLostError, type DeadLetterReason } from "./message.ts"

export class DeadLetterError extends Schema.TaggedError<DeadLetterError>()("DeadLetterError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Unknown)
}) {}

const call = <A>(what: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (cause) => new DeadLetterError({ message: `${what}: ${describe(cause)}`, cause }) })

interface MaxDeliveriesAdvisory {
  readonly stream: string
  readonly consumer: string
  readonly stream_seq: number
  readonly deliveries: number
}

export interface DeadLetterDeps {
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly kv: KV
  readonly queues: ReadonlyArray<QueueConfig>
}

/** Moves one message from its work queue to the DLQ; false when it is already gone. */
export const deadLetterBySeq = (deps: DeadLetterDeps, q: QueueConfig, seq: number, deliveries: number, reason: DeadLetterReason) =>
  Effect.gen(function*() {
    const msg = yield* Effect.tryPromise({ try: () => deps.jsm.streams.getMessage(q.stream, { seq }), catch: (e) => e }).pipe(
      Effect.catch((e) => isNotFound(e) || (e instanceof Error && /no message found/i.test(e.message))
        ? Effect.succeed(null)
        : Effect.fail(new DeadLetterError({ message: `stream ${q.stream}: get message ${seq}: ${describe(e)}`, cause: e })))
    )
    if (msg === null) return false
    const record = yield* Effect.promise(() => readErrorRecord(deps.kv, q.stream, seq))
    const headers = deadLetterHeaders(msg.header, {
      queue: q.name, stream: q.stream, subject: msg.subject, streamSeq: seq, deliveries, reason,
      error: record ? errorRecordText(record) : workerLostError, failedAt: new Date()
    })
    yield* call(`publish to ${dlqSubject(q.name)}`, () => deps.js.publish(dlqSubject(q.name), msg.data, { headers, msgID: deadLetterMsgId(q.stream, seq) }))
    yield* call(`stream ${q.stream}: delete message ${seq}`, () => deps.jsm.streams.deleteMessage(q.stream, seq).catch((e) => {
      if (!(e instanceof Error && /no message found|not found/i.test(e.message))) throw e
      return true
    }))
    yield* Effect.promise(() => deleteErrorRecord(deps.kv, q.stream, seq))
    yield* Effect.logInfo(`queue ${q.name}: message ${seq} dead-lettered after ${deliveries} deliveries: ${record ? errorRecordText(record) : workerLostError}`)
    return true
  })

const handleAdvisory = (deps: DeadLetterDeps, m: JsMsg) => Effect.gen(function*() {
  const adv = yield* Effect.try({ try: () => m.json<MaxDeliveriesAdvisory>(), catch: (e) => new DeadLetterError({ message: `advisory ${m.seq} is not JSON: ${describe(e)}` }) })
  const q = deps.queues.find((x) => x.stream === adv.stream && x.consumer === adv.consumer)
  // Another jetscale config's queue, or one removed from the config: leave its advisory for it.
  if (!q) return yield* Effect.logWarning(`advisory for ${adv.stream}/${adv.consumer}: not a queue of this config; left in ${advisoriesStream}`).pipe(Effect.as(false))
  yield* deadLetterBySeq(deps, q, adv.stream_seq, adv.deliveries, "max_deliveries")
  return true
})

/**
 * Messages still in a work-queue stream that were delivered but are not pending ran out of deliveries
 * (perhaps before jetscale ran, when nothing captured their advisory): they go to the DLQ too. Up to
 * the last delivered sequence when nothing is ack-pending (NAK-delayed messages count as ack-pending);
 * otherwise only up to the ack floor (which nats-server 2.9 does not move past such a message).
 */
export const sweepQueue = (deps: DeadLetterDeps, q: QueueConfig) => Effect.gen(function*() {
  const [stream, consumer] = yield* Effect.all([
    call(`stream ${q.stream}`, () => deps.jsm.streams.info(q.stream)),
    call(`stream ${q.stream}: consumer ${q.consumer}`, () => deps.jsm.consumers.info(q.stream, q.consumer))
  ])
  const upTo = consumer.num_ack_pending === 0 ? consumer.delivered.stream_seq : consumer.ack_floor.stream_seq
  let swept = 0
  // Bounded by the stream's own range; deleted sequences are skipped cheaply.
  for (let seq = stream.state.first_seq; stream.state.messages > 0 && seq <= Math.min(upTo, stream.state.last_seq); seq++) {
    if (yield* deadLetterBySeq(deps, q, seq, q.maxDeliver, "max_deliveries")) swept++
  }
  if (swept > 0) yield* Effect.logInfo(`queue ${q.name}: swept ${swept} max-delivered message(s) into the DLQ`)
})

/** Runs until interrupted. */
export const runDeadLetterProcessor = (js: JetStreamClient, jsm: JetStreamManager, queues: ReadonlyArray<QueueConfig>) => Effect.gen(function*() {
  if (queues.length === 0) return yield* Effect.never
  const kv = yield* call(`KV bucket ${errorsBucket}`, () => new Kvm(js).open(errorsBucket))
  const deps: DeadLetterDeps = { js, jsm, kv, queues }
  yield* Effect.forEach(queues, (q) => sweepQueue(deps, q).pipe(Effect.catch((e) => Effect.logWarning(`queue ${q.name}: sweep: ${e.message}`))), { discard: true })
  const consumer = yield* call(`stream ${advisoriesStream}: consumer ${advisoriesConsumer}`, () => js.consumers.get(advisoriesStream, advisoriesConsumer))
  const batch = call("fetch advisories", () => consumer.fetch({ max_messages: 50, expires: 2000 }).then(async (it) => {
    const out: Array<JsMsg> = []
    for await (const m of it) out.push(m)
    return out
  }))
  const step = Effect.gen(function*() {
    for (const m of yield* batch) {
      yield* handleAdvisory(deps, m).pipe(
        Effect.tap((handled) => Effect.sync(() => handled ? m.ack() : m.nak(60_000))),
        Effect.catch((e) => Effect.logWarning(`dead-letter processor: ${e.message}; retrying in 5s`).pipe(Effect.andThen(Effect.sync(() => m.nak(5000)))))
      )
    }
  }).pipe(
    Effect.catch((e) => Effect.logWarning(`dead-letter processor: ${e.message}`).pipe(Effect.andThen(Effect.sleep("1 second")))),
    // A stop waits for the batch in hand (a fetch lasts 2s at most): an abandoned pull request would
    // keep the advisories sent to it from everyone until ack_wait.
    Effect.uninterruptible
  )
  return yield* step.pipe(Effect.repeat(Schedule.forever), Effect.asVoid)
})
