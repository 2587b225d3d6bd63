// Replays a selection of one queue's dead letters (some DLQ sequences, or all of them): the one
// implementation behind `jetscale dlq replay` and the admin API's replay route. Each dead letter is
// checked (`replayRefusal`), republished in a producer span of its own and removed from the DLQ;
// a refused one stays. The caller hears of each outcome as it happens (the CLI prints a line, the
// route collects them), so a failure part-way still tells what was replayed.
import { Effect, Ref, Schema } from "effect"
import type { QueueConfig } from "../config/model.ts"
import { describe } from "../effect/attempt.ts"
import { Nats } from "../nats/connection.ts"
import { recordToHeaders } from "../nats/headers.ts"
import * as Tracing from "../telemetry/tracing.ts"
import { openDeadLetters, type DeadLetterEntry } from "./read.ts"
import { replayHeaders, replayOne, replayRefusal, ReplayRefused, selectSeqs, type Replayed, type Selection } from "./replay.ts"

export class DlqError extends Schema.TaggedError<DlqError>()("DlqError", { message: Schema.String }) {}
class Refused extends Schema.TaggedError<Refused>()("Refused", { message: Schema.String }) {}

export const tryDlq = <A>(f: () => Promise<A>) => Effect.tryPromise({ try: f, catch: (e) => new DlqError({ message: describe(e) }) })

/** What the caller is told, one call per dead letter. */
export interface ReplayListener<R = never> {
  readonly replayed: (r: Replayed) => Effect.Effect<void, never, R>
  /** `reason` is a whole sentence (`...; it stays in the DLQ` when the dead letter was found). */
  readonly refused: (dlqSeq: number, reason: string) => Effect.Effect<void, never, R>
}

export interface ReplayCounts {
  readonly replayed: number
  readonly refused: number
}

/** One replay: a producer span of its own, linked to the trace the job had before it was dead-lettered. */
const replayEntry = (q: QueueConfig, e: DeadLetterEntry) => Effect.gen(function*() {
  const { js, jsm } = yield* Nats
  const headers = yield* Tracing.traceHeaders(replayHeaders(e))
  return yield* Effect.tryPromise({
    try: () => replayOne(js, jsm, q, e, headers),
    catch: (err) => err instanceof ReplayRefused ? new Refused({ message: err.message }) : new DlqError({ message: `replay of dead letter ${e.dlqSeq}: ${describe(err)}` })
  })
}).pipe((self) => {
  const original = Tracing.externalSpanFrom(recordToHeaders(e.headers))
  return Effect.withSpan(self, `${e.subject} publish`, {
    kind: "producer",
    attributes: { "messaging.system": "nats", "messaging.destination.name": e.subject, "jetscale.queue": e.queue, "jetscale.replay_of": e.dlqSeq },
    root: true,
    ...(original ? { links: [{ span: original, attributes: { "jetscale.link": "the dead-lettered job" } }] } : {})
  })
})

/** Calls `f` on every dead letter of the queue, a batch at a time, for at most `timeoutMs`. */
const forEachDeadLetter = <R>(queue: string, timeoutMs: number, f: (e: DeadLetterEntry) => Effect.Effect<unknown, DlqError, R>) => Effect.gen(function*() {
  const { js } = yield* Nats
  yield* Effect.acquireUseRelease(
    tryDlq(() => openDeadLetters(js, { queue, limit: Number.POSITIVE_INFINITY, timeoutMs })),
    (reader) => Effect.gen(function*() {
      for (let batch = yield* tryDlq(reader.next); batch.length > 0; batch = yield* tryDlq(reader.next)) {
        yield* Effect.forEach(batch, f, { discard: true })
      }
    }),
    (reader) => Effect.promise(reader.close)
  )
})

/**
 * Replays the selection into `q` (whose name `s.queue` must be); with `all`, reading the queue's dead
 * letters gives up after `timeoutMs` (what was replayed by then stays replayed).
 */
export const replaySelection = <R>(q: QueueConfig, s: Selection, listener: ReplayListener<R>, options: { readonly timeoutMs: number }) =>
  Effect.gen(function*() {
    const counts = yield* Ref.make<ReplayCounts>({ replayed: 0, refused: 0 })
    const refuse = (dlqSeq: number, reason: string) =>
      Ref.update(counts, (c) => ({ ...c, refused: c.refused + 1 })).pipe(Effect.andThen(listener.refused(dlqSeq, reason)))
    const replayOrRefuse = (e: DeadLetterEntry) => {
      const why = replayRefusal(q, e)
      return why === undefined
        ? replayEntry(q, e).pipe(
          Effect.flatMap((r) => Ref.update(counts, (c) => ({ ...c, replayed: c.replayed + 1 })).pipe(Effect.andThen(listener.replayed(r)))),
          Effect.catchTag("Refused", (r) => refuse(e.dlqSeq, `${r.message}; it stays in the DLQ`))
        )
        : refuse(e.dlqSeq, `${why}; it stays in the DLQ`)
    }
    if (s.all) {
      yield* forEachDeadLetter(q.name, options.timeoutMs, replayOrRefuse)
    } else {
      const { jsm } = yield* Nats
      const selected = yield* tryDlq(() => selectSeqs(jsm, s))
      yield* Effect.forEach(selected.refused, (r) => refuse(r.dlqSeq, r.reason), { discard: true })
      yield* Effect.forEach(selected.entries, replayOrRefuse, { discard: true })
    }
    return yield* Ref.get(counts)
  })
