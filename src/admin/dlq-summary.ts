// The dashboard's dead-letter view: each running queue's DLQ count and newest entries. The page asks
// every 2 s (from every open tab), so the answer is kept for a second, and a queue's newest entries
// are read again only when its count or its newest sequence changed (one stream info tells whether
// anything changed at all); one read at a time.
import { Clock, Context, Effect, Layer, Ref, Semaphore } from "effect"
import { countDeadLetters, newestDeadLetters, newestSeqs } from "../dlq/newest.ts"
import type { DeadLetterEntry } from "../dlq/read.ts"
import { tryDlq, type DlqError } from "../dlq/replay-run.ts"
import { Nats } from "../nats/connection.ts"

/** A dead letter as the dashboard and `GET /api/queues/<name>/dlq` show it (no payload). */
export interface DeadLetterView {
  readonly seq: number
  readonly failedAt: string
  readonly reason: string
  readonly error: string
  readonly deliveries: number
  readonly subject: string
  readonly streamSeq: number
}

export const deadLetterView = (e: DeadLetterEntry): DeadLetterView => ({
  seq: e.dlqSeq, failedAt: e.failedAt, reason: e.reason, error: e.error, deliveries: e.deliveries, subject: e.subject, streamSeq: e.streamSeq
})

export interface QueueDeadLetters {
  readonly count: number
  /** Newest first, at most {@link newestShown}. */
  readonly newest: ReadonlyArray<DeadLetterView>
}

/** Entries per queue on the dashboard. */
export const newestShown = 5
const freshForMs = 1000

interface Cached {
  readonly at: number
  /** The queues asked for, joined. */
  readonly asked: string
  readonly stamp: string
  readonly byQueue: ReadonlyMap<string, QueueDeadLetters & { readonly newestSeq: number }>
}

export class DlqSummary extends Context.Service<DlqSummary, {
  /** The dead letters of each of `queues` (count 0 and none listed for a queue without any). */
  readonly of: (queues: ReadonlyArray<string>) => Effect.Effect<ReadonlyMap<string, QueueDeadLetters>, DlqError>
  /** The next `of` reads again (after a replay). */
  readonly invalidate: Effect.Effect<void>
}>()("jetscale/DlqSummary") {}

export const layer = Layer.effect(DlqSummary, Effect.gen(function*() {
  const { jsm } = yield* Nats
  const cache = yield* Ref.make<Cached>({ at: 0, asked: "", stamp: "", byQueue: new Map() })
  const oneAtATime = yield* Semaphore.make(1)

  const refresh = (queues: ReadonlyArray<string>, asked: string, previous: Cached, now: number) => Effect.gen(function*() {
    const counts = yield* tryDlq(() => countDeadLetters(jsm))
    if (counts.stamp === previous.stamp && asked === previous.asked) return { ...previous, at: now }
    const withLetters = queues.filter((q) => counts.perQueue.has(q))
    const newest = withLetters.length === 0 ? new Map<string, number>() : yield* tryDlq(() => newestSeqs(jsm))
    const byQueue = new Map<string, QueueDeadLetters & { readonly newestSeq: number }>()
    for (const queue of withLetters) {
      const count = counts.perQueue.get(queue)!
      const newestSeq = newest.get(queue) ?? 0
      const known = previous.byQueue.get(queue)
      const entries = known && known.count === count && known.newestSeq === newestSeq
        ? known.newest
        : (yield* tryDlq(() => newestDeadLetters(jsm, queue, newestShown))).map(deadLetterView)
      byQueue.set(queue, { count, newestSeq, newest: entries })
    }
    return { at: now, asked, stamp: counts.stamp, byQueue }
  })

  return DlqSummary.of({
    of: (queues) => oneAtATime.withPermits(1)(Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const previous = yield* Ref.get(cache)
      const asked = queues.join(" ")
      const current = now - previous.at < freshForMs && asked === previous.asked ? previous : yield* refresh(queues, asked, previous, now)
      yield* Ref.set(cache, current)
      const none: QueueDeadLetters = { count: 0, newest: [] }
      return new Map(queues.map((q) => {
        const c = current.byQueue.get(q)
        return [q, c ? { count: c.count, newest: c.newest } : none]
      }))
    })),
    invalidate: Ref.update(cache, (c) => ({ ...c, at: 0, stamp: "" }))
  })
}))
