// `jetscale pub <subject> <json | @file | -> [-H key:value ...] [--count N]`: publishes to any subject,
// like `nats pub`, with the config's NATS user. A subject a configured queue captures goes through
// JetStream (the line printed names the stream and sequence); any other is a plain NATS publish.
import { Console, Effect } from "effect"
import { subjectCaptures, subjectProblem } from "../config/subjects.ts"
import { load, reportFailure } from "./common.ts"
import { parseHeader } from "./payload.ts"
import { checkCount, PublishError, publishMessages, publisherServices, readPayload, seqRange } from "./publish.ts"

export interface PubArgs {
  readonly config: string
  readonly subject: string
  readonly payload: string
  readonly header: ReadonlyArray<string>
  readonly count: number
}

export const runPub = ({ config: path, subject, payload, header, count }: PubArgs) =>
  Effect.gen(function*() {
    const problem = subjectProblem(subject)
    if (problem !== undefined || /[*>]/.test(subject)) {
      return yield* new PublishError({ message: `subject ${JSON.stringify(subject)}: ${problem ?? "a publish goes to one subject, not a wildcard"}` })
    }
    yield* checkCount(count)
    const headers = yield* Effect.try({ try: () => header.map(parseHeader), catch: (e) => new PublishError({ message: e instanceof Error ? e.message : String(e) }) })
    const config = yield* load(path)
    const body = yield* readPayload(payload)
    const queue = config.queues.find((q) => q.subjects.some((s) => subjectCaptures(s, subject)))
    const seqs = yield* publishMessages({ subject, body, headers, count, queue }).pipe(
      Effect.provide(publisherServices(config.nats, "jetscale-pub"))
    )
    yield* Console.log(queue
      ? `published ${count} message(s) to ${subject} (queue ${queue.name}, stream ${queue.stream}, ${seqRange(seqs)})`
      : `published ${count} message(s) to ${subject} (no configured queue captures it: plain NATS publish)`)
  }).pipe(reportFailure)
