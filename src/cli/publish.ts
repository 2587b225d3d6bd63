// Publishing for `enqueue` and `pub`: each message with its own producer span (its trace context
// travels in the headers to the worker's span), refused before sending when it is over the server's
// max_payload. A subject a queue's stream captures goes through JetStream (jetstream/publish-job.ts)
// and waits for its ack; any other subject is a plain NATS publish, flushed.
import { headers as natsHeaders } from "@nats-io/transport-node"
import { Effect, Layer, Schema } from "effect"
import type { JetscaleConfig, QueueConfig } from "../config/model.ts"
import { producerSpan, publishJob } from "../jetstream/publish-job.ts"
import { describe, layer as natsLayer, Nats } from "../nats/connection.ts"
import * as Tracing from "../telemetry/tracing.ts"
import { payloadTooLarge, readJsonPayload } from "./payload.ts"

export class PublishError extends Schema.TaggedError<PublishError>()("PublishError", { message: Schema.String }) {}

/** `--count`: a whole number from 1 to this. */
const maxCount = 1_000_000

export const checkCount = (count: number) => Number.isInteger(count) && count >= 1 && count <= maxCount
  ? Effect.void
  : Effect.fail(new PublishError({ message: `--count: expected a whole number from 1 to ${maxCount}, got ${count}` }))

/** `seq 4`, or `seq 4..9` for several. */
export const seqRange = (seqs: ReadonlyArray<number>) => `seq ${seqs[0]}${seqs.length > 1 ? `..${seqs.at(-1)}` : ""}`

/** A command's NATS connection (no JetStream check: a publish-only user may not make it) and tracing. */
export const publisherServices = (nats: JetscaleConfig["nats"], clientName: string) =>
  Layer.merge(natsLayer(nats, clientName, { checkJetStream: false }), Tracing.layer("jetscale-cli", Tracing.cliOptions))

/** The payload of `arg` (JSON text, `@file` or `-`). */
export const readPayload = (arg: string) =>
  Effect.tryPromise({ try: () => readJsonPayload(arg), catch: (e) => new PublishError({ message: describe(e) }) })

export interface PublishRequest {
  readonly subject: string
  readonly body: string
  readonly headers: ReadonlyArray<{ readonly key: string; readonly value: string }>
  readonly count: number
  /** The queue whose stream captures `subject`; without one the publish is plain NATS. */
  readonly queue: QueueConfig | undefined
}

/** Publishes `count` copies; returns the stream sequences (empty for a plain NATS publish). */
export const publishMessages = (r: PublishRequest) => Effect.gen(function*() {
  const { nc, js } = yield* Nats
  const encoded = new TextEncoder().encode(r.body)
  const headerBytes = r.headers.reduce((n, h) => n + h.key.length + h.value.length + 4, 0)
  // Trace headers (traceparent) take about 100 bytes more; the server counts headers in max_payload.
  const tooLarge = payloadTooLarge(encoded.length + headerBytes + 128, nc.info?.max_payload)
  if (tooLarge !== undefined) return yield* new PublishError({ message: tooLarge })

  const given = () => {
    const h = natsHeaders()
    for (const { key, value } of r.headers) h.append(key, value)
    return h
  }
  const publishOne = r.queue === undefined
    ? Effect.gen(function*() {
      const headers = yield* Tracing.traceHeaders(given())
      yield* Effect.try({ try: () => nc.publish(r.subject, encoded, { headers }), catch: (e) => new PublishError({ message: `publish to ${r.subject} failed: ${describe(e)}` }) })
      return undefined
    }).pipe(producerSpan(r.subject))
    : Effect.suspend(() => publishJob(js, { subject: r.subject, data: encoded, headers: given(), queue: r.queue! })).pipe(Effect.map((ack) => ack.seq), Effect.mapError((e) => new PublishError({ message: e.message })))
  const seqs = yield* Effect.forEach(Array.from({ length: r.count }), () => publishOne, { concurrency: 64 })
  if (r.queue === undefined) {
    yield* Effect.tryPromise({ try: () => nc.flush(), catch: (e) => new PublishError({ message: `publish to ${r.subject}: the server did not confirm: ${describe(e)}` }) })
  }
  return seqs.filter((s): s is number => s !== undefined)
})
