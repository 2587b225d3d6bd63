// `jetscale enqueue <queue> <json | @file> [--count N]`: publishes jobs to the queue's first subject
// and waits for JetStream to acknowledge each one.
import { Console, Effect, Layer, Schema } from "effect"
import { readFile } from "node:fs/promises"
import { Nats, describe, layer as natsLayer } from "../nats/connection.ts"
import * as Tracing from "../telemetry/tracing.ts"
import { load, reportFailure } from "./common.ts"

class EnqueueError extends Schema.TaggedError<EnqueueError>()("EnqueueError", { message: Schema.String }) {}

const readPayload = (arg: string) => Effect.gen(function*() {
  const text = arg.startsWith("@")
    ? yield* Effect.tryPromise({ try: () => readFile(arg.slice(1), "utf8"), catch: (e) => new EnqueueError({ message: `cannot read ${arg.slice(1)}: ${describe(e)}` }) })
    : arg
  yield* Effect.try({ try: () => JSON.parse(text), catch: (e) => new EnqueueError({ message: `payload is not valid JSON: ${describe(e)}` }) })
  return text.trim()
})

export interface EnqueueArgs {
  readonly config: string
  readonly queue: string
  readonly payload: string
  readonly count: number
}

export const runEnqueue = ({ config: path, queue, payload, count }: EnqueueArgs) =>
  Effect.gen(function*() {
    const config = yield* load(path)
    const q = config.queues.find((x) => x.name === queue)
    if (!q) return yield* new EnqueueError({ message: `queue "${queue}" is not in ${path} (queues: ${config.queues.map((x) => x.name).join(", ") || "none"})` })
    if (!Number.isInteger(count) || count < 1) return yield* new EnqueueError({ message: `--count: expected a whole number >= 1, got ${count}` })
    const body = yield* readPayload(payload)
    const subject = q.subjects[0]!
    const seqs = yield* Effect.gen(function*() {
      const { js } = yield* Nats
      // One producer span per job; its context travels in the message headers to the worker's span.
      const publishOne = Effect.gen(function*() {
        const headers = yield* Tracing.traceHeaders()
        const ack = yield* Effect.tryPromise({
          try: () => js.publish(subject, body, { headers }),
          catch: (e) => new EnqueueError({ message: `publish to ${subject} failed: ${describe(e)} (is the stream ${q.stream} provisioned? run jetscale up)` })
        })
        yield* Effect.annotateCurrentSpan({ "messaging.message.id": `${q.stream}:${ack.seq}` })
        return ack.seq
      }).pipe(Effect.withSpan(`${subject} publish`, {
        kind: "producer",
        attributes: { "messaging.system": "nats", "messaging.operation.type": "publish", "messaging.destination.name": subject, "jetscale.queue": q.name }
      }))
      return yield* Effect.forEach(Array.from({ length: count }), () => publishOne, { concurrency: 64 })
    }).pipe(Effect.provide(Layer.merge(natsLayer(config.nats, "jetscale-enqueue", { checkJetStream: false }), Tracing.layer("jetscale-cli", Tracing.cliOptions))))
    yield* Console.log(`enqueued ${count} job(s) on ${subject} (stream ${q.stream}, seq ${seqs[0]}${count > 1 ? `..${seqs.at(-1)}` : ""})`)
  }).pipe(reportFailure)
