// The sweep of a work queue: messages still stored below the consumer's delivered sequence that are
// no longer pending. Such a message either reached max_deliver (its MAX_DELIVERIES advisory is in
// JETSCALE_ADVISORIES, or its error record says attempt >= max_deliver): it is dead-lettered; or it is
// stuck for another reason, most often an acked message that a nats-server crash brought back (2.9
// loses recent deletes, while the consumer kept its acks): it is given back to its queue. A stuck
// message that already has its DLQ entry (rejected or invalid, acked by the worker) is only removed.
// The first sweep of a queue (none recorded in jetscale_errors) dead-letters every leftover as
// before: it may have run out of deliveries before jetscale captured the queue's advisories.
// Reads go through STREAM.MSG.GET `next_by_subj`: one request per stored message, none per gap.
import { DeliverPolicy, type StoredMsg } from "@nats-io/jetstream"
import { Cause, Clock, Effect } from "effect"
import type { QueueConfig } from "../config/model.ts"
import { consumersOf } from "../jetstream/consumers.ts"
import { dlqStream, dlqSubject, errorsBucket, maxDeliveriesSubject } from "../jetstream/names.ts"
import {
  advisoryOf, advisoryTime, call, deadLetterStored, dropDeadLettered, giveBack, nextStored, readRecord,
  type DeadLetterDeps, type DeadLetterError, type MaxDeliveriesAdvisory
} from "./actions.ts"
import { deadLetterMsgId } from "./message.ts"

/** Messages looked at per queue and pass, so that a big backlog of leftovers never holds up advisories. */
const perPass = 200
/** A stuck message is given back only once a later pass, this much later, still finds it stuck. */
export const confirmAfterMs = 3000
/** How much earlier than its message an error record may say it was written (worker and server clocks). */
const recordClockSkewMs = 60_000
/** Bounds of the DLQ read that tells whether a stuck message was dead-lettered already. */
const dlqReadLimit = 20_000
const dlqReadTimeoutMs = 10_000

/** When each stuck message was first seen (key: stream, sequence and stored time). */
export type SweepMemory = Map<string, number>

const keyOf = (q: QueueConfig, m: StoredMsg) => `${q.stream}:${m.seq}:${m.time.getTime()}`

/** Key in the errors bucket saying the queue had its first sweep: later leftovers need evidence. */
const firstSweepKey = (stream: string) => `${stream}.first-sweep`

/** Whether the queue had its first sweep; renews the record's TTL (the bucket's 7 days) when it had. */
export const hadFirstSweep = (deps: DeadLetterDeps, q: QueueConfig) => Effect.gen(function*() {
  const entry = yield* call(`KV ${errorsBucket}: read ${firstSweepKey(q.stream)}`, () => deps.kv.get(firstSweepKey(q.stream)))
  if (entry?.operation !== "PUT") return false
  yield* call(`KV ${errorsBucket}: renew ${firstSweepKey(q.stream)}`, () => deps.kv.put(firstSweepKey(q.stream), entry.value))
  return true
})

export const recordFirstSweep = (deps: DeadLetterDeps, q: QueueConfig) => Clock.currentTimeMillis.pipe(
  Effect.flatMap((now) => call(`KV ${errorsBucket}: write ${firstSweepKey(q.stream)}`, () => deps.kv.put(firstSweepKey(q.stream), new Date(now).toISOString()))))

/** The MAX_DELIVERIES advisories of the queue still stored, by the stream sequence they name. */
const storedAdvisories = (deps: DeadLetterDeps, q: QueueConfig) => Effect.gen(function*() {
  const out = new Map<number, MaxDeliveriesAdvisory>()
  for (const c of consumersOf(q)) {
    const subject = maxDeliveriesSubject(q.stream, c.name)
    for (let seq = 1, n = 0; n < 10 * perPass; n++) {
      const m = yield* nextStored(deps.jsm, deps.advisories, seq, subject)
      if (m === null) break
      const a = advisoryOf(m)
      if (a) out.set(a.stream_seq, a)
      seq = m.seq + 1
    }
  }
  return out
})

/**
 * The Nats-Msg-Id of the queue's DLQ entries stored since `since`, or undefined when there are too
 * many to read (the caller then assumes none).
 */
const deadLetterIdsSince = (deps: DeadLetterDeps, q: QueueConfig, since: Date) => call(`stream ${dlqStream}: read dead letters of ${q.name}`, async () => {
  const consumer = await deps.js.consumers.get(dlqStream, {
    filter_subjects: dlqSubject(q.name), deliver_policy: DeliverPolicy.StartTime, opt_start_time: since.toISOString(), headers_only: true
  })
  try {
    const total = (await consumer.info(true)).num_pending
    if (total > dlqReadLimit) return undefined
    const ids = new Set<string>()
    for (let read = 0; read < total;) {
      let got = 0
      for await (const m of await consumer.fetch({ max_messages: Math.min(256, total - read), expires: 2000 })) {
        got++
        const id = m.headers?.get("Nats-Msg-Id")
        if (id) ids.add(id)
        // Nothing stored after it (some were deleted since opening): done.
        if (m.info.pending === 0) return ids
      }
      if (got === 0) return undefined
      read += got
    }
    return ids
  } finally {
    await consumer.delete().catch(() => {})
  }
}).pipe(Effect.timeoutOption(dlqReadTimeoutMs), Effect.map((o) => o._tag === "Some" ? o.value : undefined))

/** Runs one message's step; a failure is kept in `failed` (one warning per pass) and the others go on. */
const each = <E>(failed: Array<string>, m: StoredMsg, step: Effect.Effect<unknown, E>) =>
  step.pipe(Effect.catchCause((cause) => Cause.hasInterruptsOnly(cause)
    ? Effect.failCause(cause)
    : Effect.sync(() => void failed.push(`message ${m.seq}: ${Cause.pretty(cause).split("\n")[0]}`))))

/** Forgets the queue's stuck messages but `keep`. */
export const forgetStuck = (memory: SweepMemory, q: QueueConfig, keep: ReadonlySet<string> = new Set()) => {
  for (const k of memory.keys()) if (k.startsWith(`${q.stream}:`) && !keep.has(k)) memory.delete(k)
}

/**
 * One pass over one queue. Returns how soon another pass is worth it: 0 when the budget ran out,
 * `confirmAfterMs` when stuck messages wait for their confirmation, undefined when nothing waits.
 */
export const sweepQueue = (deps: DeadLetterDeps, q: QueueConfig, memory: SweepMemory, firstSweep: boolean): Effect.Effect<number | undefined, DeadLetterError> => Effect.gen(function*() {
  const forgetOthers = (keep: ReadonlySet<string>) => forgetStuck(memory, q, keep)
  const stream = yield* call(`stream ${q.stream}`, () => deps.jsm.streams.info(q.stream))
  if (stream.state.messages === 0) {
    forgetOthers(new Set())
    return undefined
  }
  const candidates: Array<StoredMsg> = []
  let maxDeliver = q.maxDeliver
  for (const c of consumersOf(q)) {
    const consumer = yield* call(`stream ${q.stream}: consumer ${c.name}`, () => deps.jsm.consumers.info(q.stream, c.name))
    maxDeliver = consumer.config.max_deliver ?? maxDeliver
    // Below the ack floor nothing is pending; when nothing is ack-pending, nothing delivered is.
    const upTo = consumer.num_ack_pending === 0 ? consumer.delivered.stream_seq : consumer.ack_floor.stream_seq
    for (let seq = stream.state.first_seq; candidates.length < perPass && seq <= upTo;) {
      const m = yield* nextStored(deps.jsm, q.stream, seq, c.filter ?? ">")
      if (m === null || m.seq > upTo) break
      candidates.push(m)
      seq = m.seq + 1
    }
  }
  const full = candidates.length >= perPass
  if (candidates.length === 0) {
    forgetOthers(new Set())
    return undefined
  }

  const advisories = yield* storedAdvisories(deps, q)
  const now = yield* Clock.currentTimeMillis
  const stuck: Array<StoredMsg> = []
  const fromBefore: Array<StoredMsg> = []
  const failed: Array<string> = []
  let waiting = 0
  yield* Effect.forEach(candidates, (m) => each(failed, m, Effect.gen(function*() {
    const adv = advisories.get(m.seq)
    const advAt = adv ? advisoryTime(adv) : undefined
    const advised = adv !== undefined && (advAt === undefined || advAt.getTime() >= m.time.getTime())
    const record = yield* readRecord(deps, q, m.seq)
    // A record older than the message is about an earlier stream of that name (the clocks may differ a little).
    const recorded = record !== undefined && Date.parse(record.at) >= m.time.getTime() - recordClockSkewMs
    if (advised || (recorded && maxDeliver > 0 && record.attempt >= maxDeliver)) {
      return yield* deadLetterStored(deps, q, m, adv?.deliveries ?? record?.attempt ?? maxDeliver, "max_deliveries", record)
    }
    if (firstSweep) {
      fromBefore.push(m)
      return
    }
    const first = memory.get(keyOf(q, m))
    if (first === undefined) memory.set(keyOf(q, m), now)
    if (first === undefined || now - first < confirmAfterMs) waiting++
    else stuck.push(m)
  })), { concurrency: 8, discard: true })
  yield* Effect.forEach(fromBefore, (m) => each(failed, m, deadLetterStored(deps, q, m, maxDeliver > 0 ? maxDeliver : 1, "max_deliveries").pipe(
    Effect.andThen(Effect.sync(() => memory.delete(keyOf(q, m)))))), { concurrency: 8, discard: true })

  if (stuck.length > 0) {
    const since = new Date(Math.min(...stuck.map((m) => m.time.getTime())))
    const dead = yield* deadLetterIdsSince(deps, q, since).pipe(
      Effect.catch((e) => Effect.logWarning(`queue ${q.name}: ${e.message}; stuck messages are given back without that check`).pipe(Effect.as(undefined))))
    yield* Effect.forEach(stuck, (m) => each(failed, m, Effect.gen(function*() {
      if (dead?.has(deadLetterMsgId(q.stream, m.seq, m.time.getTime()))) yield* dropDeadLettered(deps, q, m)
      else yield* giveBack(deps, q, m)
      memory.delete(keyOf(q, m))
    })), { concurrency: 8, discard: true })
  }
  if (failed.length > 0) yield* Effect.logWarning(`queue ${q.name}: sweep: ${failed.length} message(s) failed, retried on the next pass; ${failed[0]}`)
  if (!full) forgetOthers(new Set(candidates.map((m) => keyOf(q, m))))
  return full ? 0 : waiting > 0 ? confirmAfterMs : undefined
})
