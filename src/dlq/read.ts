// Reads dead letters from JETSCALE_DLQ, for the CLI and tests. A dead letter belongs to the queue its
// DLQ subject names (`jetscale.dlq.<queue>`), never to its `Jetscale-Queue` header: whoever published
// the dead letter wrote its headers. Listing reads through an ordered consumer (ephemeral, no acks,
// filtered by subject) in batches; one dead letter by sequence is a direct get.
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream"
import type { MsgHdrs } from "@nats-io/transport-node"
import { isMessageGone } from "../jetstream/errors.ts"
import { dlqStream, dlqSubject } from "../jetstream/names.ts"
import { headersToRecord } from "../nats/headers.ts"
import { DeadLetterHeaders } from "./message.ts"

export interface DeadLetterEntry {
  readonly dlqSeq: number
  /** The subject it is stored on in JETSCALE_DLQ. */
  readonly dlqSubject: string
  /** The queue its DLQ subject names. */
  readonly queue: string
  /** The subject the job was first published to (`Jetscale-Subject`). */
  readonly subject: string
  readonly streamSeq: number
  readonly deliveries: number
  readonly reason: string
  readonly error: string
  readonly failedAt: string
  readonly headers: Readonly<Record<string, string>>
  /** The payload; empty when read with `headersOnly`. */
  readonly data: Uint8Array
}

const dlqPrefix = dlqSubject("")

/** The queue a DLQ subject names, or "" for a subject that is not `jetscale.dlq.<queue>`. */
export const queueOfDlqSubject = (subject: string): string => {
  const rest = subject.startsWith(dlqPrefix) ? subject.slice(dlqPrefix.length) : ""
  return rest.includes(".") ? "" : rest
}

const toEntry = (seq: number, subject: string, header: MsgHdrs | undefined, data: Uint8Array): DeadLetterEntry => {
  const h = (k: string) => header?.get(k) ?? ""
  return {
    dlqSeq: seq,
    dlqSubject: subject,
    queue: queueOfDlqSubject(subject),
    subject: h(DeadLetterHeaders.subject),
    streamSeq: Number(h(DeadLetterHeaders.streamSeq)),
    deliveries: Number(h(DeadLetterHeaders.deliveries)),
    reason: h(DeadLetterHeaders.reason),
    error: h(DeadLetterHeaders.error),
    failedAt: h(DeadLetterHeaders.failedAt),
    headers: headersToRecord(header),
    data
  }
}

/** One dead letter by its DLQ sequence, or undefined. */
export const getDeadLetter = async (jsm: JetStreamManager, dlqSeq: number): Promise<DeadLetterEntry | undefined> => {
  const m = await jsm.streams.getMessage(dlqStream, { seq: dlqSeq }).catch((e) => {
    if (isMessageGone(e)) return null
    throw e
  })
  return m ? toEntry(m.seq, m.subject, m.header, m.data) : undefined
}

export interface ReadDeadLettersOptions {
  /** Only the dead letters on this queue's DLQ subject; default: every queue's. */
  readonly queue?: string
  /** At most this many (default 10 000). */
  readonly limit?: number
  /** Reading fails once it has taken longer than this (default 60 s). */
  readonly timeoutMs?: number
  /** Headers without payloads (`data` empty): enough for a listing, and light on a large DLQ. */
  readonly headersOnly?: boolean
  /** From this DLQ sequence on; default: from the first. */
  readonly fromSeq?: number
  /** Only the newest dead letter of each queue (of the one queue with `queue`). */
  readonly lastPerQueue?: boolean
}

export interface DeadLetterReader {
  /** How many `next` will deliver in all: what was stored when the reader opened, up to the limit. */
  readonly total: number
  /** The next batch in DLQ order; empty once done. */
  readonly next: () => Promise<ReadonlyArray<DeadLetterEntry>>
  /** Deletes the consumer (the server would after 5 minutes of inactivity anyway). */
  readonly close: () => Promise<void>
}

const batchSize = 256
const fetchExpiresMs = 5000
const defaultLimit = 10_000
const defaultTimeoutMs = 60_000

/** Opens a batched reader of the DLQ, in DLQ order; `close` it when done. */
export const openDeadLetters = async (js: JetStreamClient, options: ReadDeadLettersOptions = {}): Promise<DeadLetterReader> => {
  const consumer = await js.consumers.get(dlqStream, {
    filter_subjects: options.queue === undefined ? dlqSubject(">") : dlqSubject(options.queue),
    ...(options.lastPerQueue
      ? { deliver_policy: DeliverPolicy.LastPerSubject }
      : options.fromSeq === undefined
      ? { deliver_policy: DeliverPolicy.All }
      : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: options.fromSeq }),
    ...(options.headersOnly ? { headers_only: true } : {})
  })
  const total = Math.min(options.limit ?? defaultLimit, (await consumer.info(true)).num_pending)
  const timeoutMs = options.timeoutMs ?? defaultTimeoutMs
  const deadline = Date.now() + timeoutMs
  let read = 0
  let done = total <= 0
  const next = async (): Promise<ReadonlyArray<DeadLetterEntry>> => {
    if (done) return []
    if (Date.now() >= deadline) throw new Error(`reading ${dlqStream} took longer than ${timeoutMs / 1000}s (${read} of ${total} dead letters read)`)
    const batch: Array<DeadLetterEntry> = []
    const messages = await consumer.fetch({
      max_messages: Math.min(batchSize, total - read),
      expires: Math.max(1000, Math.min(fetchExpiresMs, deadline - Date.now()))
    })
    let caughtUp = false
    for await (const m of messages) {
      batch.push(toEntry(m.seq, m.subject, m.headers, m.data))
      // Nothing stored after it (some were deleted since opening): don't wait for the fetch to expire.
      caughtUp = m.info.pending === 0
      if (caughtUp) break
    }
    read += batch.length
    done = caughtUp || batch.length === 0 || read >= total
    return batch
  }
  return { total, next, close: () => consumer.delete().then(() => {}, () => {}) }
}

/** Dead letters in DLQ order, of one queue (by DLQ subject) or all; at most `limit`. */
export const listDeadLetters = async (
  jsm: JetStreamManager,
  queue?: string,
  limit = defaultLimit,
  options: Omit<ReadDeadLettersOptions, "queue" | "limit"> = {}
): Promise<Array<DeadLetterEntry>> => {
  const reader = await openDeadLetters(jsm.jetstream(), { ...options, ...(queue === undefined ? {} : { queue }), limit })
  try {
    const out: Array<DeadLetterEntry> = []
    for (let batch = await reader.next(); batch.length > 0; batch = await reader.next()) out.push(...batch)
    return out
  } finally {
    await reader.close()
  }
}
