// Publishing one job into a queue's stream (the CLI's enqueue/pub and the admin API's job route):
// a producer span whose trace context travels in the headers to the worker's span, an optional
// Nats-Msg-Id for the stream's duplicate window, and the ack. A stream that refuses it for being
// full (maxBacklog) is told apart from other failures. A job with a due time goes to
// `jetscale.delayed.<queue>` instead (`asDelayed`); the scaler releases it into the queue when due.
import type { JetStreamClient } from "@nats-io/jetstream"
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node"
import { Effect, Schema } from "effect"
import { delayedHeaders } from "../delay/message.ts"
import { describe } from "../effect/attempt.ts"
import { delayedStream, delayedSubject } from "./names.ts"
import * as Tracing from "../telemetry/tracing.ts"

export class JobPublishError extends Schema.TaggedError<JobPublishError>()("JobPublishError", {
  /** `full`: the stream holds maxBacklog jobs; `no-stream`: nothing answers for the subject. */
  reason: Schema.Literals(["full", "no-stream", "failed"]),
  message: Schema.String
}) {}

export interface JobToPublish {
  readonly subject: string
  readonly data: Uint8Array
  readonly headers?: MsgHdrs
  /** Becomes `Nats-Msg-Id`: a second publish with it within the stream's duplicate window is not stored again. */
  readonly msgId?: string
  /** For the span: the queue and its stream. */
  readonly queue?: { readonly name: string; readonly stream: string }
}

const reasonOf = (text: string): JobPublishError["reason"] =>
  /maximum messages exceeded|maximum bytes exceeded/i.test(text) ? "full"
  : /no responders|503|jetstream is not enabled/i.test(text) ? "no-stream"
  : "failed"

/** The producer span of a publish to `subject` (of `queue`, when it is a queue's). */
export const producerSpan = (subject: string, queue?: string) => Effect.withSpan(`${subject} publish`, {
  kind: "producer",
  attributes: {
    "messaging.system": "nats", "messaging.operation.type": "publish", "messaging.destination.name": subject,
    ...(queue ? { "jetscale.queue": queue } : {})
  }
})

/** Publishes one job and waits for JetStream's ack: its stream sequence, and whether it was a duplicate. */
export const publishJob = (js: JetStreamClient, job: JobToPublish) => Effect.gen(function*() {
  const headers = yield* Tracing.traceHeaders(job.headers ?? natsHeaders())
  const ack = yield* Effect.tryPromise({
    try: () => js.publish(job.subject, job.data, { headers, ...(job.msgId ? { msgID: job.msgId } : {}) }),
    catch: (e) => {
      const text = describe(e)
      const reason = reasonOf(text)
      return new JobPublishError({
        reason,
        message: reason === "full" && job.queue?.stream === delayedStream
          ? `${delayedStream} is full: it holds as many delayed jobs as it may; try again when some were released`
          : reason === "full"
          ? `queue ${job.queue?.name ?? job.subject} is full: its stream holds maxBacklog jobs; try again when workers have taken some`
          : reason === "no-stream"
          ? `publish to ${job.subject} failed: no stream answers for it (is the stream ${job.queue?.stream ?? "of its queue"} provisioned? run jetscale up)`
          : `publish to ${job.subject} failed: ${text}`
      })
    }
  })
  if (job.queue) yield* Effect.annotateCurrentSpan({ "messaging.message.id": `${job.queue.stream}:${ack.seq}` })
  return { seq: ack.seq, duplicate: ack.duplicate }
}).pipe(producerSpan(job.subject, job.queue?.name))

/** `job` (for `queue`, to its work subject) as a delayed job due at `due` (ms since the epoch): to `jetscale.delayed.<queue>`. */
export const asDelayed = (job: JobToPublish, queue: string, due: number): JobToPublish => ({
  ...job,
  subject: delayedSubject(queue),
  headers: delayedHeaders(job.headers, due, job.subject),
  queue: { name: queue, stream: delayedStream }
})
