// Jobs over HTTP, the NATS side: `POST /api/queues/<name>/jobs` (routes.ts) hands the parsed jobs
// here; each is published into the queue's stream (its first subject) and acked by JetStream. An
// `Idempotency-Key` becomes the job's Nats-Msg-Id (`<key>` for one job, `<key>:<i>` in a batch), so a
// retried request within the stream's duplicate window stores nothing twice.
import { Context, Effect, Layer, Schema } from "effect"
import { LiveConfig, unknownQueueMessage } from "../config/live.ts"
import { publishJob } from "../jetstream/publish-job.ts"
import { Nats } from "../nats/connection.ts"
import * as Metrics from "../telemetry/metrics.ts"

export class SubmitError extends Schema.TaggedError<SubmitError>()("SubmitError", {
  reason: Schema.Literals(["unknown-queue", "full", "failed"]),
  message: Schema.String
}) {}

export interface SubmitResult {
  readonly stream: string
  readonly subject: string
  /** Stream sequences, one per job in order (a duplicate's is the one stored first). */
  readonly seqs: ReadonlyArray<number>
  readonly duplicates: number
}

export class JobSubmitter extends Context.Service<JobSubmitter, {
  /** The NATS server's max_payload: the largest job (with its headers) it takes. */
  readonly maxPayload: Effect.Effect<number>
  readonly submit: (queue: string, jobs: ReadonlyArray<string>, idempotencyKey: string | undefined) => Effect.Effect<SubmitResult, SubmitError>
}>()("jetscale/JobSubmitter") {}

/** Submits to the queues of the running config (a live reload's queues at once). */
export const layer = Layer.effect(JobSubmitter, Effect.gen(function*() {
  const { nc, js } = yield* Nats
  const live = yield* LiveConfig
  const encoder = new TextEncoder()
  const submit = Effect.fn("JobSubmitter.submit")(function*(queue: string, jobs: ReadonlyArray<string>, idempotencyKey: string | undefined) {
    const q = yield* live.queue(queue)
    if (!q) return yield* new SubmitError({ reason: "unknown-queue", message: unknownQueueMessage(queue, yield* live.queues) })
    const subject = q.subjects[0]!
    // In order, one at a time: a batch refused part-way (a full queue) says how far it got.
    const acks: Array<{ seq: number; duplicate: boolean }> = []
    for (const [i, job] of jobs.entries()) {
      const msgId = idempotencyKey === undefined ? undefined : jobs.length === 1 ? idempotencyKey : `${idempotencyKey}:${i}`
      const ack = yield* publishJob(js, { subject, data: encoder.encode(job), queue: q, ...(msgId ? { msgId } : {}) }).pipe(
        Effect.catchTag("JobPublishError", (e) => Effect.gen(function*() {
          if (e.reason === "full") yield* Metrics.recordJobsRefused(q.name, jobs.length - i)
          const done = acks.length > 0 ? ` (${acks.length} of ${jobs.length} jobs accepted before it, up to seq ${acks.at(-1)!.seq})` : ""
          return yield* new SubmitError({ reason: e.reason === "full" ? "full" : "failed", message: `${e.message}${done}` })
        }))
      )
      acks.push(ack)
    }
    return { stream: q.stream, subject, seqs: acks.map((a) => a.seq), duplicates: acks.filter((a) => a.duplicate).length }
  })
  return JobSubmitter.of({ maxPayload: Effect.sync(() => nc.info?.max_payload ?? 1024 * 1024), submit })
}))
