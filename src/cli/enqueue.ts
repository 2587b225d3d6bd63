// `jetscale enqueue <queue> <json | @file | -> [--count N]`: publishes jobs to the queue's first
// subject and waits for JetStream to acknowledge each one.
import { Console, Effect } from "effect"
import { load, reportFailure } from "./common.ts"
import { checkCount, PublishError, publishMessages, publisherServices, readPayload, seqRange } from "./publish.ts"

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
    yield* checkCount(count)
    const body = yield* readPayload(payload)
    const subject = q.subjects[0]!
    const seqs = yield* publishMessages({ subject, body, headers: [], count, queue: q }).pipe(
      Effect.provide(publisherServices(config.nats, "jetscale-enqueue"))
    )
    yield* Console.log(`enqueued ${count} job(s) on ${subject} (stream ${q.stream}, ${seqRange(seqs)})`)
  }).pipe(reportFailure)
