// `jetscale enqueue <queue> <json | @file | -> [--count N]`: publishes jobs to the queue's first
// subject and waits for JetStream to acknowledge each one.
import { Console, Effect, Layer } from "effect"
import { layer as natsLayer } from "../nats/connection.ts"
import * as Tracing from "../telemetry/tracing.ts"
import { load, reportFailure } from "./common.ts"
import { PublishError, publishMessages, readPayload } from "./publish.ts"

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
    if (!q) return yield* new PublishError({ message: `queue "${queue}" is not in ${path} (queues: ${config.queues.map((x) => x.name).join(", ") || "none"})` })
    if (!Number.isInteger(count) || count < 1 || count > 1_000_000) {
      return yield* new PublishError({ message: `--count: expected a whole number from 1 to 1000000, got ${count}` })
    }
    const body = yield* readPayload(payload)
    const subject = q.subjects[0]!
    const seqs = yield* publishMessages({ subject, body, headers: [], count, queue: q }).pipe(
      Effect.provide(Layer.merge(natsLayer(config.nats, "jetscale-enqueue", { checkJetStream: false }), Tracing.layer("jetscale-cli", Tracing.cliOptions)))
    )
    yield* Console.log(`enqueued ${count} job(s) on ${subject} (stream ${q.stream}, seq ${seqs[0]}${count > 1 ? `..${seqs.at(-1)}` : ""})`)
  }).pipe(reportFailure)
