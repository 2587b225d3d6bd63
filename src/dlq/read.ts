// Reads dead letters from JETSCALE_DLQ, for the CLI and tests.
import type { JetStreamManager, StoredMsg } from "@nats-io/jetstream"
import { isMessageGone } from "../jetstream/errors.ts"
import { dlqStream, dlqSubject } from "../jetstream/names.ts"
import { headersToRecord } from "../nats/headers.ts"
import { DeadLetterHeaders } from "./message.ts"

export interface DeadLetterEntry {
  readonly dlqSeq: number
  readonly queue: string
  /** The subject the job was first published to. */
  readonly subject: string
  readonly streamSeq: number
  readonly deliveries: number
  readonly reason: string
  readonly error: string
  readonly failedAt: string
  readonly headers: Readonly<Record<string, string>>
  readonly data: Uint8Array
}

const toEntry = (m: StoredMsg): DeadLetterEntry => {
  const headers = headersToRecord(m.header)
  const h = (k: string) => m.header?.get(k) ?? ""
  return {
    dlqSeq: m.seq,
    queue: h(DeadLetterHeaders.queue) || m.subject.replace(/^jetscale\.dlq\./, ""),
    subject: h(DeadLetterHeaders.subject),
    streamSeq: Number(h(DeadLetterHeaders.streamSeq)),
    deliveries: Number(h(DeadLetterHeaders.deliveries)),
    reason: h(DeadLetterHeaders.reason),
    error: h(DeadLetterHeaders.error),
    failedAt: h(DeadLetterHeaders.failedAt),
    headers,
    data: m.data
  }
}

/** One dead letter by its DLQ sequence, or undefined. */
export const getDeadLetter = async (jsm: JetStreamManager, dlqSeq: number): Promise<DeadLetterEntry | undefined> => {
  const m = await jsm.streams.getMessage(dlqStream, { seq: dlqSeq }).catch((e) => {
    if (isMessageGone(e)) return null
    throw e
  })
  return m ? toEntry(m) : undefined
}

/** Dead letters in DLQ order, of one queue or all; at most `limit`. */
export const listDeadLetters = async (jsm: JetStreamManager, queue?: string, limit = 10_000): Promise<Array<DeadLetterEntry>> => {
  const info = await jsm.streams.info(dlqStream)
  const out: Array<DeadLetterEntry> = []
  const subject = queue ? dlqSubject(queue) : undefined
  if (info.state.messages === 0) return out
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && out.length < limit; seq++) {
    const entry = await getDeadLetter(jsm, seq)
    if (entry && (!subject || entry.queue === queue)) out.push(entry)
  }
  return out
}
