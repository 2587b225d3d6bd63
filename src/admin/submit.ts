// Jobs over HTTP, the NATS side: `POST /api/queues/<name>/jobs` (routes.ts) hands the parsed jobs
// here; each is published into the queue's stream (its first subject) and acked by JetStream. An
// `Idempotency-Key` becomes the job's Nats-Msg-Id (`<key>` for one job, `<key>:<i>` in a batch), so a
// retried request within the stream's duplicate window stores nothing twice. Jobs with a due time
// go to `jetscale.delayed.<name>` (JETSCALE_DELAYED) instead and enter the queue when due.
import { Context, Effect, Layer, Schema } from "effect"
import { LiveConfig, unknownQueueMessage } from "../config/live.ts"
import { formatInstant, releaseSubject } from "../delay/not-before.ts"
import { jobSubjectOf } from "../jetstream/consumers.ts"
import { delayedStream, delayedSubject } from "../jetstream/names.ts"
import { asDelayed, publishJob } from "../jetstream/publish-job.ts"
import { Nats } from "../nats/connection.ts"
import * as Metrics from "../telemetry/metrics.ts"

export class SubmitError extends Schema.TaggedError<SubmitError>()("SubmitError", {
  /** `invalid`: a request the queue can't take (an unknown priority level): a 400. */
  reason: Schema.Literals(["unknown-queue", "invalid", "full", "failed"]),
  message: Schema.String
}) {}

export interface SubmitResult {
  readonly stream: string
  readonly subject: string
  /** Stream sequences, one per job in order (a duplicate's is the one stored first). */
  readonly seqs: ReadonlyArray<number>
  readonly duplicates: number
  /** When the jobs enter the queue (RFC 3339), for delayed jobs. */
  readonly dueAt?: string
}

export class JobSubmitter extends Context.Service<JobSubmitter, {
  /** The NATS server's max_payload: the largest job (with its headers) it takes. */
  readonly maxPayload: Effect.Effect<number>
  /** `due` (ms since the epoch): the jobs wait in JETSCALE_DELAYED until then. `level`: a queue with priorities' level (default: the middle one). */
  readonly submit: (queue: string, jobs: ReadonlyArray<string>, idempotencyKey: string | undefined, due?: number, level?: string) => Effect.Effect<SubmitResult, SubmitError>
}>()("jetscale/JobSubmitter") {}

/** Submits to the queues of the running config (a live reload's queues at once). */
export const layer = Layer.effect(JobSubmitter, Effect.gen(function*() {
  const { nc, js } = yield* Nats
  const live = yield* LiveConfig
  const encoder = new TextEncoder()
  const submit = Effect.fn("JobSubmitter.submit")(function*(queue: string, jobs: ReadonlyArray<string>, idempotencyKey: string | undefined, due?: number, level?: string) {
    const q = yield* live.queue(queue)
    if (!q) return yield* new SubmitError({ reason: "unknown-queue", message: unknownQueueMessage(queue, yield* live.queues) })
    const target = jobSubjectOf(q, level)
    if (typeof target === "string") return yield* new SubmitError({ reason: "invalid", message: `priority: ${target}` })
    const subject = target.subject
    if (due !== undefined && releaseSubject(q.subjects, subject) !== subject) {
      return yield* new SubmitError({ reason: "invalid", message: `queue ${queue}: its first subject ${subject} is a wildcard, so a delayed job has no subject to enter the queue on` })
    }
    // In order, one at a time: a batch refused part-way (a full queue) says how far it got.
    const acks: Array<{ seq: number; duplicate: boolean }> = []
    for (const [i, job] of jobs.entries()) {
      const msgId = idempotencyKey === undefined ? undefined : jobs.length === 1 ? idempotencyKey : `${idempotencyKey}:${i}`
      const toQueue = { subject, data: encoder.encode(job), queue: q, ...(msgId ? { msgId } : {}) }
      const ack = yield* publishJob(js, due === undefined ? toQueue : asDelayed(toQueue, q.name, due)).pipe(
        Effect.catchTag("JobPublishError", (e) => Effect.gen(function*() {
          if (e.reason === "full") yield* Metrics.recordJobsRefused(q.name, jobs.length - i)
          const done = acks.length > 0 ? ` (${acks.length} of ${jobs.length} jobs accepted before it, up to seq ${acks.at(-1)!.seq})` : ""
          return yield* new SubmitError({ reason: e.reason === "full" ? "full" : "failed", message: `${e.message}${done}` })
        }))
      )
      acks.push(ack)
    }
    const seqs = acks.map((a) => a.seq)
    const duplicates = acks.filter((a) => a.duplicate).length
    return due === undefined
      ? { stream: q.stream, subject, seqs, duplicates }
      : { stream: delayedStream, subject: delayedSubject(q.name), seqs, duplicates, dueAt: formatInstant(due) }
  })
  return JobSubmitter.of({ maxPayload: Effect.sync(() => nc.info?.max_payload ?? 1024 * 1024), submit })
}))
