// The newest dead letters of a queue, and how many each queue has, without reading the whole DLQ:
// the counts come from one stream info (its per-subject counts); the newest N of a queue are read
// from the DLQ sequence after which exactly N of them are stored, found by a binary search on the
// pending count of a filtered ordered consumer (each probe creates and deletes one). The 5 newest of
// a queue with 100,000 dead letters cost some 20 small requests, not 100,000 messages.
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream"
import { isNotFound } from "../jetstream/errors.ts"
import { dlqStream, dlqSubject } from "../jetstream/names.ts"
import { listDeadLetters, openDeadLetters, queueOfDlqSubject, type DeadLetterEntry } from "./read.ts"

export interface DeadLetterCounts {
  /** Dead letters per queue (by DLQ subject); a queue without any is absent. */
  readonly perQueue: ReadonlyMap<string, number>
  /** Changes whenever a dead letter is added or removed (the stream's sequences and count). */
  readonly stamp: string
}

/** Every queue's dead-letter count (or `queue`'s alone), in one request (a few, paged, for very many queues). */
export const countDeadLetters = async (jsm: JetStreamManager, queue?: string): Promise<DeadLetterCounts> => {
  const info = await jsm.streams.info(dlqStream, { subjects_filter: dlqSubject(queue ?? ">") }).catch((e: unknown) => {
    if (isNotFound(e)) return null
    throw e
  })
  if (info === null) return { perQueue: new Map(), stamp: "no stream" }
  const perQueue = new Map<string, number>()
  for (const [subject, n] of Object.entries(info.state.subjects ?? {})) {
    const queue = queueOfDlqSubject(subject)
    if (queue !== "" && n > 0) perQueue.set(queue, n)
  }
  return { perQueue, stamp: `${info.state.first_seq}:${info.state.last_seq}:${info.state.messages}` }
}

/** The DLQ sequence of each queue's newest dead letter (headers only, one message per queue). */
export const newestSeqs = async (jsm: JetStreamManager): Promise<ReadonlyMap<string, number>> => {
  const last = await listDeadLetters(jsm, undefined, Number.POSITIVE_INFINITY, { lastPerQueue: true, headersOnly: true, timeoutMs: 10_000 })
  return new Map(last.map((e) => [e.queue, e.dlqSeq]))
}

/** How many of the queue's dead letters are stored at `seq` or after it. */
const storedFrom = async (js: JetStreamClient, queue: string, seq: number): Promise<number> => {
  const reader = await openDeadLetters(js, { queue, fromSeq: seq, limit: Number.POSITIVE_INFINITY, headersOnly: true })
  await reader.close()
  return reader.total
}

/** The newest `limit` dead letters of a queue, newest first, headers only (`data` empty). */
export const newestDeadLetters = async (jsm: JetStreamManager, queue: string, limit: number): Promise<Array<DeadLetterEntry>> => {
  const js = jsm.jetstream()
  const info = await jsm.streams.info(dlqStream).catch((e: unknown) => {
    if (isNotFound(e)) return null
    throw e
  })
  if (info === null || limit <= 0) return []
  // The largest `from` with at least `limit` of the queue's dead letters at or after it.
  let from = info.state.first_seq
  if (await storedFrom(js, queue, from) > limit) {
    let hi = info.state.last_seq
    while (from < hi) {
      const mid = Math.ceil((from + hi) / 2)
      if (await storedFrom(js, queue, mid) >= limit) from = mid
      else hi = mid - 1
    }
  }
  const entries = await listDeadLetters(jsm, queue, limit, { fromSeq: from, headersOnly: true, timeoutMs: 10_000 })
  return entries.reverse()
}
