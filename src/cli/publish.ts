// Publishing for `enqueue` and `pub`: each message with its own producer span (its trace context
// travels in the headers to the worker's span), refused before sending when it is over the server's
// max_payload. A subject a queue's stream captures goes through JetStream (jetstream/publish-job.ts)
// and waits for its ack; any other subject is a plain NATS publish, flushed. A job with a due time
// (`--delay`, `--at`) goes to its queue's `jetscale.delayed.<queue>` (see ../delay/), never to the
// work subject.
import { headers as natsHeaders } from "@nats-io/transport-node"
import { Clock, Effect, Layer, Option, Schema } from "effect"
import type { JetscaleConfig, QueueConfig } from "../config/model.ts"
import { dueTime } from "../delay/due.ts"
import { formatInstant } from "../delay/not-before.ts"
import { asDelayed, producerSpan, publishJob } from "../jetstream/publish-job.ts"
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
  /** The queue (and the stream) that captures `subject`; without one the publish is plain NATS. */
  readonly queue: Pick<QueueConfig, "name" | "stream"> | undefined
  /** When the job is due (ms since the epoch): it waits in `jetscale.delayed.<queue>` until then. Needs `queue`. */
  readonly due?: number | undefined
}

/** `--delay` / `--at` as a due time: undefined for "now" (neither given, or an `--at` within the last minute). */
export const dueFromFlags = (delay: Option.Option<string>, at: Option.Option<string>) => Effect.gen(function*() {
  const r = dueTime({ delay: Option.getOrUndefined(delay), at: Option.getOrUndefined(at) }, yield* Clock.currentTimeMillis, { delay: "--delay", at: "--at" })
  if ("problem" in r) return yield* new PublishError({ message: r.problem })
  return r.due
})

/** `, due 2026-12-01T18:00:00Z` for a delayed publish, nothing otherwise. */
export const dueSuffix = (due: number | undefined) => due === undefined ? "" : `, due ${formatInstant(due)}`

/** Publishes `count` copies; returns the stream sequences (empty for a plain NATS publish). */
export const publishMessages = (r: PublishRequest) => Effect.gen(function*() {
  const { nc, js } = yield* Nats
  if (r.due !== undefined && r.queue === undefined) return yield* new PublishError({ message: `a delayed publish needs a queue: none captures ${r.subject}` })
  const encoded = new TextEncoder().encode(r.body)
  // A delayed job also carries its due time and its subject.
  const headerBytes = r.headers.reduce((n, h) => n + h.key.length + h.value.length + 4, 0) + (r.due === undefined ? 0 : 80 + r.subject.length)
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
    : Effect.suspend(() => {
      const job = { subject: r.subject, data: encoded, headers: given(), queue: r.queue! }
      return publishJob(js, r.due === undefined ? job : asDelayed(job, r.queue!.name, r.due))
    }).pipe(Effect.map((ack) => ack.seq), Effect.mapError((e) => new PublishError({ message: e.message })))
  const seqs = yield* Effect.forEach(Array.from({ length: r.count }), () => publishOne, { concurrency: 64 })
  if (r.queue === undefined) {
    yield* Effect.tryPromise({ try: () => nc.flush(), catch: (e) => new PublishError({ message: `publish to ${r.subject}: the server did not confirm: ${describe(e)}` }) })
  }
  return seqs.filter((s): s is number => s !== undefined)
})
