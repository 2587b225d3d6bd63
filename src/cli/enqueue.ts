// `jetscale enqueue <queue> <json | @file | -> [--count N] [--delay 10m | --at TIME] [--priority P]`:
// publishes jobs to the queue's first subject (with priorities: its level's subject) and waits for
// JetStream to acknowledge each one. A job with a due time waits in `jetscale.delayed.<queue>` and
// enters the queue when due (see ../delay/).
import { Console, Effect, Option } from "effect"
import { releaseSubject } from "../delay/not-before.ts"
import { jobSubjectOf } from "../jetstream/consumers.ts"
import { delayedStream, delayedSubject } from "../jetstream/names.ts"
import { load, reportFailure } from "./common.ts"
import { checkCount, dueFromFlags, dueSuffix, PublishError, publishMessages, publisherServices, readPayload, seqRange } from "./publish.ts"

export interface EnqueueArgs {
  readonly config: string
  readonly queue: string
  readonly payload: string
  readonly count: number
  readonly delay: Option.Option<string>
  readonly at: Option.Option<string>
  /** A queue with priorities: the level (default: the middle one). */
  readonly priority: Option.Option<string>
}

export const runEnqueue = ({ config: path, queue, payload, count, delay, at, priority }: EnqueueArgs) =>
  Effect.gen(function*() {
    const config = yield* load(path)
    const q = config.queues.find((x) => x.name === queue)
    if (!q) return yield* new PublishError({ message: `queue "${queue}" is not in ${path} (queues: ${config.queues.map((x) => x.name).join(", ") || "none"})` })
    yield* checkCount(count)
    const due = yield* dueFromFlags(delay, at)
    const target = jobSubjectOf(q, Option.getOrUndefined(priority))
    if (typeof target === "string") return yield* new PublishError({ message: `--priority: ${target}` })
    const subject = target.subject
    if (due !== undefined && releaseSubject(q.subjects, subject) !== subject) {
      return yield* new PublishError({ message: `queue ${queue}: its first subject ${subject} is a wildcard; publish a delayed job to one subject with jetscale pub <subject> --delay` })
    }
    const body = yield* readPayload(payload)
    const seqs = yield* publishMessages({ subject, body, headers: [], count, queue: q, due }).pipe(
      Effect.provide(publisherServices(config.nats, "jetscale-enqueue"))
    )
    yield* Console.log(due === undefined
      ? `enqueued ${count} job(s) on ${subject} (stream ${q.stream}, ${seqRange(seqs)})`
      : `queued ${count} ${queue} job(s) on ${delayedSubject(queue)} (stream ${delayedStream}, ${seqRange(seqs)})${dueSuffix(due)}`)
  }).pipe(reportFailure)
