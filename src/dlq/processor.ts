// The dead-letter processor, a fiber of the scaler: reads MAX_DELIVERIES advisories from
// JETSCALE_ADVISORIES, copies each message to JETSCALE_DLQ (with its last recorded error), deletes it
// from the work queue, then acks the advisory. Handling an advisory twice is harmless: the DLQ publish
// is deduplicated by Nats-Msg-Id and a message already deleted is skipped. Between fetches it also
// handles advisories that no fetch will bring (see `recoverAdvisories`) and, when no advisory of its
// queues is left, sweeps the work queues (./sweep.ts). One fiber does all three, so they never race.
import type { JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { Cause, Clock, Effect } from "effect"
import type { QueueConfig } from "../config/model.ts"
import { consumersOf } from "../jetstream/consumers.ts"
import { isMessageGone } from "../jetstream/errors.ts"
import { advisoriesConsumer, advisoriesStreamOf, defaultDeployment, errorsBucket, maxDeliveriesSubject } from "../jetstream/names.ts"
import { readStreamLevels, type StreamLevels } from "../jetstream/stream-levels.ts"
import { advisoryOf, advisoryTime, call, deadLetterBySeq, lookup, nextStored, type DeadLetterDeps, type MaxDeliveriesAdvisory } from "./actions.ts"
import { forgetStuck, hadFirstSweep, recordFirstSweep, sweepQueue, type SweepMemory } from "./sweep.ts"

type AdvisoryOutcome = "handled" | "not-ours" | "malformed"

const handleAdvisory = (deps: DeadLetterDeps, adv: MaxDeliveriesAdvisory | undefined, seq: number) => Effect.gen(function*() {
  if (!adv) {
    yield* Effect.logWarning(`advisory ${seq} in ${deps.advisories} is not a MAX_DELIVERIES advisory; dropped`)
    return "malformed" as AdvisoryOutcome
  }
  const q = deps.queues.find((x) => x.stream === adv.stream && consumersOf(x).some((c) => c.name === adv.consumer))
  if (!q) {
    // This deployment's advisories stream captures only its own queues: the queue was removed from
    // the config since (or the stream is gone). Its message stays where it is; the advisory is dropped.
    const stream = yield* lookup(`stream ${adv.stream}`, () => deps.jsm.streams.info(adv.stream))
    if (stream === null) return "handled" as AdvisoryOutcome
    yield* Effect.logWarning(`advisory for ${adv.stream}/${adv.consumer}: its queue is no longer in this config; message ${adv.stream_seq} stays in ${adv.stream}`)
    return "not-ours" as AdvisoryOutcome
  }
  yield* deadLetterBySeq(deps, q, adv.stream_seq, adv.deliveries, "max_deliveries", advisoryTime(adv))
  return "handled" as AdvisoryOutcome
})

/** Acks, NAKs and terms never throw out of the processor: on a closed connection the advisory comes back. */
const settle = (m: JsMsg, outcome: AdvisoryOutcome | "failed") => Effect.sync(() => {
  try {
    if (outcome === "handled") m.ack()
    else if (outcome === "malformed" || outcome === "not-ours") m.term()
    else m.nak(5000)
  } catch { /* connection closed: redelivered after ack_wait */ }
})

/** Advisories of one queue looked at per pass. */
const recoverPerPass = 200

/**
 * Advisories of our queues stored at or below the advisory consumer's delivered sequence: held by the
 * pull of a client that is gone (a killed scaler: they would wait for ack_wait), or back in the stream
 * after a nats-server crash undid their ack (they would never be delivered again). Each is handled
 * here and then deleted, which also settles it for the consumer. True when none of ours is left to
 * handle, now or in the consumer's pending: then the work queues may be swept.
 */
export const recoverAdvisories = (deps: DeadLetterDeps) => Effect.gen(function*() {
  const consumer = yield* call(`stream ${deps.advisories}: consumer ${advisoriesConsumer}`, () => deps.jsm.consumers.info(deps.advisories, advisoriesConsumer))
  if (consumer.num_pending > 0) return false
  const stream = yield* call(`stream ${deps.advisories}`, () => deps.jsm.streams.info(deps.advisories))
  if (stream.state.messages === 0) return true
  let clear = true
  for (const subject of deps.queues.flatMap((q) => consumersOf(q).map((c) => maxDeliveriesSubject(q.stream, c.name)))) {
    for (let seq = stream.state.first_seq, n = 0; n < recoverPerPass && seq <= consumer.delivered.stream_seq; n++) {
      const m = yield* nextStored(deps.jsm, deps.advisories, seq, subject)
      if (m === null || m.seq > consumer.delivered.stream_seq) break
      seq = m.seq + 1
      const outcome = yield* handleAdvisory(deps, advisoryOf(m), m.seq).pipe(
        Effect.catch((e) => Effect.logWarning(`dead-letter processor: advisory ${m.seq}: ${e.message}`).pipe(Effect.as("failed" as const))))
      if (outcome === "failed") {
        clear = false
        continue
      }
      yield* call(`stream ${deps.advisories}: delete advisory ${m.seq}`, () => deps.jsm.streams.deleteMessage(deps.advisories, m.seq, true).catch((e) => {
        if (!isMessageGone(e)) throw e
        return false
      }))
    }
  }
  return clear
})

/** How often the work queues are swept when nothing waits; a pass with work left asks for the next sooner. */
const sweepEveryMs = 10_000
/** Advisories held elsewhere are looked for at most this often. */
const recoverEveryMs = 1000

/** Queues whose first sweep is known to be done, and when that record was last renewed. */
type FirstSweeps = Map<string, number>
const renewFirstSweepEveryMs = 24 * 3600 * 1000

const sweepOne = (deps: DeadLetterDeps, memory: SweepMemory, firstSweeps: FirstSweeps, q: QueueConfig, levels: StreamLevels | undefined) => Effect.gen(function*() {
  const now = yield* Clock.currentTimeMillis
  const renewed = firstSweeps.get(q.stream)
  const fresh = renewed !== undefined && now - renewed < renewFirstSweepEveryMs
  // An empty stream has nothing to sweep: no request of its own once its first sweep is known.
  if (fresh && levels?.get(q.stream) === 0) {
    forgetStuck(memory, q)
    return undefined
  }
  const done = fresh || (yield* hadFirstSweep(deps, q))
  if (done && !fresh) firstSweeps.set(q.stream, now)
  const hint = yield* sweepQueue(deps, q, memory, !done)
  if (!done && hint !== 0) {
    yield* recordFirstSweep(deps, q)
    firstSweeps.set(q.stream, now)
  }
  return hint
})

const sweepAll = (deps: DeadLetterDeps, memory: SweepMemory, firstSweeps: FirstSweeps) => Effect.gen(function*() {
  // One read of every stream's level; unreadable, every queue is swept the long way.
  const levels = yield* readStreamLevels(deps.jsm).pipe(Effect.orElseSucceed(() => undefined))
  return yield* sweepEach(deps, memory, firstSweeps, levels)
})

const sweepEach = (deps: DeadLetterDeps, memory: SweepMemory, firstSweeps: FirstSweeps, levels: StreamLevels | undefined) =>
  Effect.forEach(deps.queues, (q: QueueConfig) => sweepOne(deps, memory, firstSweeps, q, levels).pipe(
    Effect.catchCause((cause) => Cause.hasInterruptsOnly(cause)
      ? Effect.failCause(cause)
      : Effect.logWarning(`queue ${q.name}: sweep failed; again in ${sweepEveryMs / 1000}s`, cause).pipe(Effect.as(undefined)))
  )).pipe(Effect.map((hints) => Math.min(sweepEveryMs, ...hints.filter((h) => h !== undefined))))

/** Runs until interrupted. */
export const runDeadLetterProcessor = (js: JetStreamClient, jsm: JetStreamManager, queues: ReadonlyArray<QueueConfig>, deployment = defaultDeployment) => Effect.gen(function*() {
  if (queues.length === 0) return yield* Effect.never
  const kv = yield* call(`KV bucket ${errorsBucket}`, () => new Kvm(js).open(errorsBucket))
  const deps: DeadLetterDeps = { js, jsm, kv, queues, advisories: advisoriesStreamOf(deployment) }
  const consumer = yield* call(`stream ${deps.advisories}: consumer ${advisoriesConsumer}`, () => js.consumers.get(deps.advisories, advisoriesConsumer))
  const memory: SweepMemory = new Map()
  const firstSweeps: FirstSweeps = new Map()
  const due = { recover: 0, sweep: 0 }
  // A stop waits for a fetch in progress (2s at most): an abandoned pull request would keep the
  // advisories sent to it from everyone until ack_wait.
  const batch = call("fetch advisories", () => consumer.fetch({ max_messages: 50, expires: 2000 }).then(async (it) => {
    const out: Array<JsMsg> = []
    for await (const m of it) out.push(m)
    return out
  })).pipe(Effect.uninterruptible)

  // Its failures are logged apart: the advisories must still be fetched.
  const housekeeping = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    if (now < due.recover) return
    due.recover = now + recoverEveryMs
    const clear = yield* recoverAdvisories(deps)
    if (!clear || now < due.sweep) return
    due.sweep = now + (yield* sweepAll(deps, memory, firstSweeps))
  }).pipe(Effect.catchCause((cause) => Cause.hasInterruptsOnly(cause)
    ? Effect.failCause(cause)
    : Effect.logWarning("dead-letter processor: looking for leftovers failed; again in 1s", cause)))

  const step = Effect.gen(function*() {
    yield* housekeeping
    for (const m of yield* batch) {
      const outcome = yield* handleAdvisory(deps, advisoryOf(m), m.seq).pipe(
        Effect.catch((e) => Effect.logWarning(`dead-letter processor: ${e.message}; retrying in 5s`).pipe(Effect.as("failed" as const)))
      )
      yield* settle(m, outcome)
    }
  })
  // A failure or a defect of one step is logged; the loop goes on.
  return yield* step.pipe(
    Effect.catchCause((cause) => Cause.hasInterruptsOnly(cause)
      ? Effect.failCause(cause)
      : Effect.logWarning("dead-letter processor: step failed; again in 1s", cause).pipe(Effect.andThen(Effect.sleep("1 second")))),
    Effect.forever
  )
})
