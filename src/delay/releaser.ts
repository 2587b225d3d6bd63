// The delay releaser, a fiber of the leading scaler (next to the dead-letter processor): for each
// queue, pulls its delayed jobs from JETSCALE_DELAYED through the consumer `release-<queue>`. A job
// not due yet is NAKed with a delay up to its time (at most an hour, then looked at again): it waits
// on the server, in no work queue, and survives any restart. A due job is published into the queue's
// stream with `Nats-Msg-Id: jetscale-delayed:<stream created>:<seq>`, then acked. A releaser killed
// between the two gets the job again after ack_wait (10s) and publishes it again with the same id,
// which the work stream drops if its duplicate window (2 min by default) still holds the first: the
// job enters its queue once as long as a releaser is back within about 110s.
import type { JetStreamClient, JetStreamManager, JsMsg } from "@nats-io/jetstream"
import { Match } from "@nats-io/transport-node"
import { Cause, Clock, Effect, Metric, Ref, Result, Schema, Stream } from "effect"
import type { QueueConfig } from "../config/model.ts"
import { attemptWith, describe } from "../effect/attempt.ts"
import { jobSubjectOf } from "../jetstream/consumers.ts"
import { delayedStream, notBeforeHeader } from "../jetstream/names.ts"
import { publishJob } from "../jetstream/publish-job.ts"
import * as Tracing from "../telemetry/tracing.ts"
import { releasedHeaders, subjectHeader } from "./message.ts"
import { formatInstant, parseNotBefore, releaseStep, releaseSubject } from "./not-before.ts"
import { releaseConsumer } from "./provision.ts"

/** The queue's subjects, its default level's first (the one a job without its own subject enters on). */
const defaultFirst = (q: QueueConfig): ReadonlyArray<string> => {
  const target = jobSubjectOf(q, undefined)
  return typeof target === "string" ? q.subjects : [target.subject, ...q.subjects.filter((s) => s !== target.subject)]
}

export class ReleaseError extends Schema.TaggedError<ReleaseError>()("ReleaseError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Unknown)
}) {}
const call = attemptWith((message, cause) => new ReleaseError({ message, cause }))

export const delayedJobs = Metric.counter("jetscale_delayed_jobs_total", {
  description: "Delayed jobs handled by the releaser, by outcome (released; deferred: back until due; retried: the queue was full or the publish failed)",
  incremental: true
})
const count = (queue: string, outcome: "released" | "deferred" | "retried") => Metric.update(Metric.withAttributes(delayedJobs, { queue, outcome }), 1)

/** A job that could not go into its queue (full, publish failed) is looked at again after this. */
const retryMs = 2000
/** Jobs pulled per request, and how long a request waits for some. */
const batchSize = 256
const fetchExpiresMs = 2000
/** Jobs of one batch published at once. */
const publishConcurrency = 32

/** What a queue's loop remembers: the problems already logged (each is logged once until it clears). */
interface ReleaserState {
  readonly full: boolean
  readonly failing: boolean
  readonly noSubject: boolean
}
const cleanState: ReleaserState = { full: false, failing: false, noSubject: false }

/** The Nats-Msg-Id of a released job: the same for every release of one stored delayed job. */
export const releaseMsgId = (streamCreatedMs: number, seq: number) => `jetscale-delayed:${streamCreatedMs}:${seq}`

/** NAKs and acks never throw out of the releaser: on a closed connection the job comes back after ack_wait. */
const nak = (m: JsMsg, ms: number) => Effect.sync(() => {
  try {
    m.nak(Math.max(1, Math.ceil(ms)))
  } catch { /* redelivered after ack_wait */ }
})

/** Logs `message` when `key` turns on (the first time a problem is seen), nothing while it stays on. */
const noteProblem = (state: Ref.Ref<ReleaserState>, key: keyof ReleaserState, log: Effect.Effect<void>) =>
  Ref.modify(state, (s) => [s[key], { ...s, [key]: true }] as const).pipe(Effect.flatMap((seen) => seen ? Effect.void : log))

const clearProblems = (q: QueueConfig, state: Ref.Ref<ReleaserState>) =>
  Ref.getAndSet(state, cleanState).pipe(Effect.flatMap((s) => s.full || s.failing
    ? Effect.logInfo(`queue ${q.name}: delayed jobs enter the queue again`)
    : Effect.void))

type Outcome = "released" | "deferred" | "retried"

/**
 * Handles one delayed job. `blocked` is set for the rest of its batch once a publish is refused
 * (a full queue): the batch's other due jobs are put back without a try.
 */
const handle = (js: JetStreamClient, q: QueueConfig, created: number, state: Ref.Ref<ReleaserState>, blocked: Ref.Ref<boolean>, m: JsMsg) => Effect.gen(function*() {
  const header = m.headers?.get(notBeforeHeader, Match.IgnoreCase) || undefined
  const step = releaseStep(header, yield* Clock.currentTimeMillis)
  if (step._tag === "wait") {
    yield* nak(m, step.ms)
    return "deferred" as Outcome
  }
  if (step._tag === "release-unparsable") {
    yield* Effect.logWarning(`queue ${q.name}: delayed job ${m.seq} has ${notBeforeHeader} ${JSON.stringify(step.value)}, neither RFC 3339 nor ms since the epoch: released now`)
  }
  // Without a subject of its own, a job of a queue with priorities enters at the default level, as one sent by name does.
  const subject = releaseSubject(defaultFirst(q), m.headers?.get(subjectHeader, Match.IgnoreCase) || undefined)
  if (subject === undefined) {
    yield* noteProblem(state, "noSubject", Effect.logWarning(`queue ${q.name}: its subjects are all wildcards and delayed job ${m.seq} has no ${subjectHeader} header naming one of its subjects: it stays in ${delayedStream} (publish it with that header)`))
    yield* nak(m, 3600_000)
    return "retried" as Outcome
  }
  if (yield* Ref.get(blocked)) {
    yield* nak(m, retryMs)
    return "retried" as Outcome
  }
  const due = header === undefined ? undefined : parseNotBefore(header)
  const published = yield* publishJob(js, {
    subject, data: m.data, headers: releasedHeaders(m.headers, due), msgId: releaseMsgId(created, m.seq), queue: q
  }).pipe(Effect.result)
  if (Result.isFailure(published)) {
    const e = published.failure
    yield* e.reason === "full"
      ? noteProblem(state, "full", Effect.logWarning(`queue ${q.name}: ${e.message}; its due delayed jobs wait in ${delayedStream} and are tried again every ${retryMs / 1000}s`))
      : noteProblem(state, "failing", Effect.logWarning(`queue ${q.name}: releasing delayed job ${m.seq} failed: ${e.message}; trying again every ${retryMs / 1000}s`))
    yield* Ref.set(blocked, true)
    yield* nak(m, retryMs)
    return "retried" as Outcome
  }
  // Acked once the job is in its queue; an ack that does not arrive brings the job back, and its
  // second publish is dropped as a duplicate.
  const acked = yield* Effect.promise(() => m.ackAck().catch(() => false))
  if (!acked) yield* Effect.logWarning(`queue ${q.name}: delayed job ${m.seq} is in the queue (seq ${published.success.seq}) but its ack was not confirmed; it comes back after ack_wait and is dropped as a duplicate`)
  if (published.success.duplicate) yield* Effect.logInfo(`queue ${q.name}: delayed job ${m.seq} had already been released (a release interrupted before its ack)`)
  yield* Effect.logDebug(`queue ${q.name}: delayed job ${m.seq}${due === undefined ? "" : ` due ${formatInstant(due)}`} released to ${subject} (seq ${published.success.seq})`)
  return "released" as Outcome
}).pipe(
  (self) => {
    // The release continues the job's trace: the worker's span is a child of it.
    const parent = Tracing.externalSpanFrom(m.headers)
    return Effect.withSpan(self, `release ${q.name}`, {
      kind: "internal",
      attributes: { "jetscale.queue": q.name, "jetscale.delayed_seq": m.seq },
      ...(parent ? { parent } : { root: true })
    })
  },
  Effect.tap((outcome) => count(q.name, outcome)),
  Effect.tap((outcome) => outcome === "released" ? clearProblems(q, state) : Effect.void),
  // A job is published and acked as one step: a stop waits for it (it takes milliseconds).
  Effect.uninterruptible
)

/**
 * One queue's loop: pull, handle each job, again. Anything that fails (a pull, the consumer gone with
 * a recreated stream) is logged and the loop starts over after a second, its consumer looked up again.
 */
const releaseQueue = (js: JetStreamClient, jsm: JetStreamManager, q: QueueConfig, state: Ref.Ref<ReleaserState>) => Effect.gen(function*() {
  const name = releaseConsumer(q.name)
  const created = yield* call(`stream ${delayedStream}`, () => jsm.streams.info(delayedStream)).pipe(Effect.map((info) => Date.parse(info.created)))
  const consumer = yield* call(`stream ${delayedStream}: consumer ${name}`, () => js.consumers.get(delayedStream, name))
  // Each job is handled as it arrives (a NAK-delayed job comes back to the open pull when due). A
  // stop waits for the pull in progress (2s at most): an abandoned pull request would hold the jobs
  // sent to it until ack_wait.
  const pull = Effect.gen(function*() {
    const messages = yield* call(`stream ${delayedStream}: fetch from ${name}`, () => consumer.fetch({ max_messages: batchSize, expires: fetchExpiresMs }))
    const blocked = yield* Ref.make(false)
    yield* Stream.fromAsyncIterable(messages, (e) => new ReleaseError({ message: `stream ${delayedStream}: fetch from ${name}: ${describe(e)}`, cause: e })).pipe(
      Stream.mapEffect((m) => handle(js, q, created, state, blocked, m), { concurrency: publishConcurrency }),
      Stream.runDrain
    )
    return yield* Ref.get(blocked)
  }).pipe(Effect.uninterruptible)
  // The queue refused a job: its due jobs come back in `retryMs`; no pull (and no try) before.
  return yield* Effect.forever(Effect.flatMap(pull, (blocked) => blocked ? Effect.sleep(retryMs) : Effect.void))
})

/**
 * Releases the delayed jobs of `queues` until interrupted: one loop per queue, so a full queue never
 * holds up another. Jobs of queues not in `queues` are left where they are.
 */
export const runDelayReleaser = (js: JetStreamClient, jsm: JetStreamManager, queues: ReadonlyArray<QueueConfig>) =>
  queues.length === 0
    ? Effect.never
    : Effect.forEach(queues, (q) => Effect.gen(function*() {
      const state = yield* Ref.make(cleanState)
      return yield* releaseQueue(js, jsm, q, state).pipe(
        Effect.catchCause((cause) => Cause.hasInterruptsOnly(cause)
          ? Effect.failCause(cause)
          : Effect.logWarning(`queue ${q.name}: delay releaser failed; again in 1s`, cause).pipe(Effect.andThen(Effect.sleep("1 second")))),
        Effect.forever
      )
    }), { concurrency: "unbounded", discard: true })
