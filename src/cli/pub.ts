// `jetscale pub <subject> <json | @file | -> [-H key:value ...] [--count N]`: publishes to any subject,
// like `nats pub`, with the config's NATS user. A subject a configured queue captures goes through
// JetStream (the line printed names the stream and sequence); any other is a plain NATS publish.
import { Console, Effect, Layer } from "effect"
import { subjectCaptures, subjectProblem } from "../config/subjects.ts"
import { layer as natsLayer } from "../nats/connection.ts"
import * as Tracing from "../telemetry/tracing.ts"
import { load, reportFailure } from "./common.ts"
import { parseHeader } from "./payload.ts"
import { PublishError, publishMessages, readPayload } from "./publish.ts"

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
    if (!Number.isInteger(count) || count < 1 || count > 1_000_000) {
      return yield* new PublishError({ message: `--count: expected a whole number from 1 to 1000000, got ${count}` })
    }
    const headers = yield* Effect.try({ try: () => header.map(parseHeader), catch: (e) => new PublishError({ message: e instanceof Error ? e.message : String(e) }) })
    const config = yield* load(path)
    const body = yield* readPayload(payload)
    const queue = config.queues.find((q) => q.subjects.some((s) => subjectCaptures(s, subject)))
    const seqs = yield* publishMessages({ subject, body, headers, count, queue }).pipe(
      Effect.provide(Layer.merge(natsLayer(config.nats, "jetscale-pub", { checkJetStream: false }), Tracing.layer("jetscale-cli", Tracing.cliOptions)))
    )
    yield* Console.log(queue
      ? `published ${count} message(s) to ${subject} (queue ${queue.name}, stream ${queue.stream}, seq ${seqs[0]}${count > 1 ? `..${seqs.at(-1)}` : ""})`
      : `published ${count} message(s) to ${subject} (no configured queue captures it: plain NATS publish)`)
  }).pipe(reportFailure)
