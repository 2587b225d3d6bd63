// The admin API's dead-letter routes (registered in ./routes.ts):
//   GET  /api/queues/<name>/dlq?limit=N   the newest N (1..100, default 20) dead letters, newest first
//   POST /api/queues/<name>/dlq/replay    {"seqs": [...]} or {"all": true}, as `jetscale dlq replay` does
// 404 for a queue not in the running config, 400 naming the field for a bad value, 413 for a body
// over 16 KiB, 502 when NATS fails (with what was replayed before it did).
import { Effect, Ref, Result, Semaphore } from "effect"
import { HttpServerRequest } from "effect/http"
import { LiveConfig, unknownQueueMessage } from "../config/live.ts"
import { countDeadLetters, newestDeadLetters } from "../dlq/newest.ts"
import type { Refused } from "../dlq/replay.ts"
import { replaySelection, tryDlq } from "../dlq/replay-run.ts"
import { Nats } from "../nats/connection.ts"
import { parseDlqLimit, parseReplayBody } from "./dlq-request.ts"
import { deadLetterView, DlqSummary } from "./dlq-summary.ts"
import { error, json, queryParam, queueParam, readBody } from "./respond.ts"

const maxBodyBytes = 16 * 1024
/** A replay of all gives up reading after this long (what it replayed stays replayed; ask again for the rest). */
const replayAllTimeoutMs = 60_000
/** Refusals listed in an answer (all are counted). */
const refusalsListed = 100

export const makeDlqRoutes = Effect.gen(function*() {
  const nats = yield* Nats
  const live = yield* LiveConfig
  const summary = yield* DlqSummary
  // One replay at a time: two replays of the same dead letters would race to delete them.
  const replaying = yield* Semaphore.make(1)

  const configuredQueue = Effect.gen(function*() {
    const name = yield* queueParam
    const q = yield* live.queue(name)
    return q ? Result.succeed(q) : Result.fail(error(404, unknownQueueMessage(name, yield* live.queues)))
  })

  const list = Effect.gen(function*() {
    const q = yield* configuredQueue
    if (Result.isFailure(q)) return q.failure
    const limit = parseDlqLimit(queryParam(yield* HttpServerRequest.HttpServerRequest, "limit"))
    if (Result.isFailure(limit)) return error(400, limit.failure)
    const name = q.success.name
    return yield* Effect.all([tryDlq(() => countDeadLetters(nats.jsm, name)), tryDlq(() => newestDeadLetters(nats.jsm, name, limit.success))]).pipe(
      Effect.match({
        onFailure: (e) => error(502, `dead letters of queue ${name}: ${e.message}`),
        onSuccess: ([counts, entries]) => json({ queue: name, count: counts.perQueue.get(name) ?? 0, deadLetters: entries.map(deadLetterView) })
      })
    )
  })

  const replay = Effect.gen(function*() {
    const q = yield* configuredQueue
    if (Result.isFailure(q)) return q.failure
    const text = yield* readBody(yield* HttpServerRequest.HttpServerRequest, maxBodyBytes)
    if (text === undefined) return error(413, `body: larger than ${maxBodyBytes / 1024} KiB (or the client went away)`)
    const body = parseReplayBody(text)
    if (Result.isFailure(body)) return error(400, body.failure)
    const queue = q.success.name
    const replayed = yield* Ref.make(0)
    const refusals = yield* Ref.make<ReadonlyArray<Refused>>([])
    const refused = yield* Ref.make(0)
    const selection = { queue, all: body.success.all, seqs: body.success.all ? [] : body.success.seqs }
    const run = replaySelection(q.success, selection, {
      replayed: () => Ref.update(replayed, (n) => n + 1),
      refused: (dlqSeq, reason) => Ref.update(refused, (n) => n + 1).pipe(
        Effect.andThen(Ref.update(refusals, (all) => all.length < refusalsListed ? [...all, { dlqSeq, reason }] : all)))
    }, { timeoutMs: replayAllTimeoutMs })
    const outcome = yield* replaying.withPermits(1)(run).pipe(Effect.result)
    yield* summary.invalidate
    const counts = { queue, replayed: yield* Ref.get(replayed), refused: yield* Ref.get(refused), refusals: yield* Ref.get(refusals) }
    if (Result.isFailure(outcome)) return json({ error: `replay of queue ${queue}'s dead letters: ${outcome.failure.message}`, ...counts }, 502)
    // Nothing replayed and every one named refused (not found, another queue's): the request failed.
    if (counts.replayed === 0 && counts.refused > 0) return json({ error: counts.refusals[0]!.reason, ...counts }, 409)
    return json(counts)
  })

  return { list, replay }
})
