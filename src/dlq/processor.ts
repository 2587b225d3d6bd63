// The dead-letter processor, a fiber of the scaler: reads MAX_DELIVERIES advisories from
// JETSCALE_ADVISORIES, copies each message to JETSCALE_DLQ (with its last recorded error), deletes it
// from the work queue, then acks the advisory. Handling an advisory twice is harmless: the DLQ publish
// is deduplicated by Nats-Msg-Id and a message already deleted is skipped. On start it also sweeps
// messages that sat max-delivered in a work queue from before.
import { type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream"
import { Kvm, type KV } from "@nats-io/kv"
import { Effect, Schedule, Schema } from "effect"
import type { QueueConfig } from "../config/model.ts"
import { isMessageGone, isNotFound } from "../jetstream/errors.ts"
import { advisoriesConsumer, advisoriesStream, dlqSubject, errorsBucket } from "../jetstream/names.ts"
import { describe } from "../nats/connection.ts"
import * as Metrics from "../telemetry/metrics.ts"
import * as Tracing from "../telemetry/tracing.ts"
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
  readonly timestamp?: string
}

const isAdvisory = (a: unknown): a is MaxDeliveriesAdvisory => {
  const x = a as Partial<MaxDeliveriesAdvisory> | null
  return typeof x === "object" && x !== null && typeof x.stream === "string" && typeof x.consumer === "string" &&
    Number.isInteger(x.stream_seq) && Number.isInteger(x.deliveries)
}

export interface DeadLetterDeps {
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
  readonly kv: KV
  readonly queues: ReadonlyArray<QueueConfig>
}

/**
 * Moves one message from its work queue to the DLQ; false when it is already gone, or when it was
 * stored after `notAfter` (a stream recreated since the advisory: the sequence is another message).
 */
export const deadLetterBySeq = (deps: DeadLetterDeps, q: QueueConfig, seq: number, deliveries: number, reason: DeadLetterReason, notAfter?: Date) =>
  Effect.gen(function*() {
    const msg = yield* Effect.tryPromise({ try: () => deps.jsm.streams.getMessage(q.stream, { seq }), catch: (e) => e }).pipe(
      Effect.catch((e) => isMessageGone(e)
        ? Effect.succeed(null)
        : Effect.fail(new DeadLetterError({ message: `stream ${q.stream}: get message ${seq}: ${describe(e)}`, cause: e })))
    )
    if (msg === null || (notAfter && msg.time.getTime() > notAfter.getTime())) return false
    const parent = Tracing.externalSpanFrom(msg.header)
    yield* Effect.gen(function*() {
      const record = yield* call(`KV ${errorsBucket}: read the error of ${q.stream} ${seq}`, () => readErrorRecord(deps.kv, q.stream, seq))
      const headers = deadLetterHeaders(msg.header, {
        queue: q.name, stream: q.stream, subject: msg.subject, streamSeq: seq, deliveries, reason,
        error: record ? errorRecordText(record) : workerLostError, failedAt: new Date()
      })
      const ack = yield* call(`publish to ${dlqSubject(q.name)}`, () => deps.js.publish(dlqSubject(q.name), msg.data, { headers, msgID: deadLetterMsgId(q.stream, seq, msg.time.getTime()) }))
      if (!ack.duplicate) yield* Metrics.recordDeadLetter(q.name, reason)
      yield* call(`stream ${q.stream}: delete message ${seq}`, () => deps.jsm.streams.deleteMessage(q.stream, seq).catch((e) => {
        if (!isMessageGone(e)) throw e
        return true
      }))
      yield* Effect.promise(() => deleteErrorRecord(deps.kv, q.stream, seq))
      yield* Effect.logInfo(`queue ${q.name}: message ${seq} dead-lettered after ${deliveries} deliveries: ${record ? errorRecordText(record) : workerLostError}`)
    }).pipe(Effect.withSpan(`dead-letter ${q.name}`, {
      kind: "producer",
      attributes: { "jetscale.queue": q.name, "jetscale.stream_seq": seq, "jetscale.reason": reason, "jetscale.deliveries": deliveries, "messaging.system": "nats", "messaging.destination.name": dlqSubject(q.name) },
      // The dead-lettering is the last step of the job's trace.
      ...(parent ? { parent } : { root: true })
    }))
    return true
  })

type AdvisoryOutcome = "handled" | "not-ours" | "malformed"

const handleAdvisory = (deps: DeadLetterDeps, m: JsMsg) => Effect.gen(function*() {
  const adv = yield* Effect.try({ try: () => m.json<unknown>(), catch: () => undefined }).pipe(Effect.orElseSucceed(() => undefined))
  if (!isAdvisory(adv)) {
    yield* Effect.logWarning(`advisory ${m.seq} in ${advisoriesStream} is not a MAX_DELIVERIES advisory; dropped`)
    return "malformed" as AdvisoryOutcome
  }
  const q = deps.queues.find((x) => x.stream === adv.stream && x.consumer === adv.consumer)
  if (!q) {
    // The stream is gone: nothing left to dead-letter. Otherwise another jetscale config's queue.
    const exists = yield* Effect.tryPromise(() => deps.jsm.streams.info(adv.stream)).pipe(Effect.as(true), Effect.catch((e) => Effect.succeed(!isNotFound(e.cause))))
    if (!exists) return "handled" as AdvisoryOutcome
    yield* Effect.logWarning(`advisory for ${adv.stream}/${adv.consumer}: not a queue of this config; left for its own scaler`)
    return "not-ours" as AdvisoryOutcome
  }
  const at = adv.timestamp ? new Date(adv.timestamp) : undefined
  yield* deadLetterBySeq(deps, q, adv.stream_seq, adv.deliveries, "max_deliveries", at && !Number.isNaN(at.getTime()) ? at : undefined)
  return "handled" as AdvisoryOutcome
})

/** Acks, NAKs and terms never throw out of the processor: on a closed connection the advisory comes back. */
const settle = (m: JsMsg, outcome: AdvisoryOutcome | "failed") => Effect.sync(() => {
  try {
    if (outcome === "handled") m.ack()
    else if (outcome === "malformed") m.term()
    else m.nak(outcome === "failed" ? 5000 : 60_000)
  } catch { /* connection closed: redelivered after ack_wait */ }
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

/** Sweeps every queue; cheap while no queue holds leftovers (two info requests each). */
const sweepAll = (deps: DeadLetterDeps) =>
  Effect.forEach(deps.queues, (q) => sweepQueue(deps, q).pipe(Effect.catch((e) => Effect.logWarning(`queue ${q.name}: sweep: ${e.message}`))), { discard: true })

/** How often leftovers are swept besides the start (a busy queue can only be swept once idle). */
const sweepEvery = "30 seconds"

/** Runs until interrupted. */
export const runDeadLetterProcessor = (js: JetStreamClient, jsm: JetStreamManager, queues: ReadonlyArray<QueueConfig>) => Effect.gen(function*() {
  if (queues.length === 0) return yield* Effect.never
  const kv = yield* call(`KV bucket ${errorsBucket}`, () => new Kvm(js).open(errorsBucket))
  const deps: DeadLetterDeps = { js, jsm, kv, queues }
  yield* sweepAll(deps).pipe(Effect.repeat(Schedule.spaced(sweepEvery)), Effect.forkScoped)
  const consumer = yield* call(`stream ${advisoriesStream}: consumer ${advisoriesConsumer}`, () => js.consumers.get(advisoriesStream, advisoriesConsumer))
  // A stop waits for a fetch in progress (2s at most): an abandoned pull request would keep the
  // advisories sent to it from everyone until ack_wait.
  const batch = call("fetch advisories", () => consumer.fetch({ max_messages: 50, expires: 2000 }).then(async (it) => {
    const out: Array<JsMsg> = []
    for await (const m of it) out.push(m)
    return out
  })).pipe(Effect.uninterruptible)
  const step = Effect.gen(function*() {
    for (const m of yield* batch) {
      const outcome = yield* handleAdvisory(deps, m).pipe(
        Effect.catch((e) => Effect.logWarning(`dead-letter processor: ${e.message}; retrying in 5s`).pipe(Effect.as("failed" as const)))
      )
      yield* settle(m, outcome)
    }
  }).pipe(Effect.catch((e) => Effect.logWarning(`dead-letter processor: ${e.message}`).pipe(Effect.andThen(Effect.sleep("1 second")))))
  return yield* step.pipe(Effect.forever)
}).pipe(Effect.scoped)
