// `jetscale pub <subject> <json | @file | -> [-H key:value ...] [--count N] [--delay 10m | --at TIME]`:
// publishes to any subject, like `nats pub`, with the config's NATS user. A subject a configured
// queue captures goes through JetStream (the line printed names the stream and sequence); any other
// is a plain NATS publish. A job for a queue with a due time (`--delay`, `--at`, or
// `-H Jetscale-Not-Before:`) goes to `jetscale.delayed.<queue>` and enters the queue when due;
// publishing to `jetscale.delayed.<queue>` itself goes through JetStream too.
import { Clock, Console, Effect, Option } from "effect"
import type { JetscaleConfig } from "../config/model.ts"
import { subjectCaptures, subjectProblem } from "../config/subjects.ts"
import { formatInstant, maxDelayMs, parseNotBefore } from "../delay/not-before.ts"
import { delayedStream, delayedSubject, notBeforeHeader } from "../jetstream/names.ts"
import { load, reportFailure } from "./common.ts"
import { parseHeader } from "./payload.ts"
import { checkCount, dueFromFlags, dueSuffix, PublishError, publishMessages, publisherServices, readPayload, seqRange, type PublishRequest } from "./publish.ts"

export interface PubArgs {
  readonly config: string
  readonly subject: string
  readonly payload: string
  readonly header: ReadonlyArray<string>
  readonly count: number
  readonly delay: Option.Option<string>
  readonly at: Option.Option<string>
}

type Header = { readonly key: string; readonly value: string }
const isNotBefore = (h: Header) => h.key.toLowerCase() === notBeforeHeader.toLowerCase()

/** A `-H Jetscale-Not-Before:` on a queue's subject: its due time when in the future, else undefined (the job runs now). */
const dueFromHeader = (h: Header) => Effect.gen(function*() {
  const due = parseNotBefore(h.value)
  if (due === undefined) return yield* new PublishError({ message: `-H ${notBeforeHeader}: expected an RFC 3339 time or ms since the epoch, got ${JSON.stringify(h.value)}` })
  const now = yield* Clock.currentTimeMillis
  if (due > now + maxDelayMs) return yield* new PublishError({ message: `-H ${notBeforeHeader}: more than 366 days ahead` })
  return due > now ? due : undefined
})

/** Where the message goes, and how: the queue (or delayed stream) that takes it, and its due time. */
const route = (config: JetscaleConfig, subject: string, headers: ReadonlyArray<Header>, args: PubArgs) => Effect.gen(function*() {
  const flagDue = yield* dueFromFlags(args.delay, args.at)
  const flagged = Option.isSome(args.delay) || Option.isSome(args.at)
  const notBefore = headers.find(isNotBefore)
  if (flagged && notBefore) return yield* new PublishError({ message: `--delay/--at and -H ${notBeforeHeader}: give one of them, not both` })
  const direct = config.queues.find((q) => delayedSubject(q.name) === subject)
  if (direct) {
    // Already a delayed subject: a flag's due time becomes the header.
    const extra = flagDue === undefined ? [] : [{ key: notBeforeHeader, value: formatInstant(flagDue) }]
    return { headers: [...headers, ...extra], queue: { name: direct.name, stream: delayedStream }, due: undefined, shownDue: flagDue }
  }
  const queue = config.queues.find((q) => q.subjects.some((s) => subjectCaptures(s, subject)))
  if (queue === undefined) {
    // A header for whoever reads that subject goes as it is; the flags need a queue.
    if (flagged) return yield* new PublishError({ message: `--delay/--at: a delayed job needs a queue, and no configured queue captures ${subject}` })
    return { headers, queue: undefined, due: undefined, shownDue: undefined }
  }
  if (notBefore) {
    const due = yield* dueFromHeader(notBefore)
    // Due already: the job goes to its queue as it is (the header says it may run).
    return { headers: due === undefined ? headers : headers.filter((h) => !isNotBefore(h)), queue, due, shownDue: due }
  }
  return { headers, queue, due: flagDue, shownDue: flagDue }
})

export const runPub = (args: PubArgs) =>
  Effect.gen(function*() {
    const { config: path, subject, payload, header, count } = args
    const problem = subjectProblem(subject)
    if (problem !== undefined || /[*>]/.test(subject)) {
      return yield* new PublishError({ message: `subject ${JSON.stringify(subject)}: ${problem ?? "a publish goes to one subject, not a wildcard"}` })
    }
    yield* checkCount(count)
    const headers = yield* Effect.try({ try: () => header.map(parseHeader), catch: (e) => new PublishError({ message: e instanceof Error ? e.message : String(e) }) })
    const config = yield* load(path)
    const body = yield* readPayload(payload)
    const r = yield* route(config, subject, headers, args)
    const request: PublishRequest = { subject, body, headers: r.headers, count, queue: r.queue, due: r.due }
    const seqs = yield* publishMessages(request).pipe(Effect.provide(publisherServices(config.nats, "jetscale-pub")))
    const where = r.due === undefined ? `${subject} (queue ${r.queue?.name}, stream ${r.queue?.stream}` : `${delayedSubject(r.queue!.name)} for ${subject} (queue ${r.queue!.name}, stream ${delayedStream}`
    yield* Console.log(r.queue
      ? `published ${count} message(s) to ${where}, ${seqRange(seqs)})${dueSuffix(r.shownDue)}`
      : `published ${count} message(s) to ${subject} (no configured queue captures it: plain NATS publish)`)
  }).pipe(reportFailure)
