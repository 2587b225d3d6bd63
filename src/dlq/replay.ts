// Replay and purge of dead letters. A replay republishes to the original subject and removes the
// dead letter only after JetStream acknowledged the publish, so a failure in between loses nothing.
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream"
import type { MsgHdrs } from "@nats-io/transport-node"
import { dlqStream, dlqSubject } from "../jetstream/names.ts"
import { recordToHeaders } from "../nats/headers.ts"
import { carriedHeaders } from "./message.ts"
import { getDeadLetter, listDeadLetters, type DeadLetterEntry } from "./read.ts"

/** Header on a replayed job naming the dead letter it came from. */
export const replayOfHeader = "Jetscale-Replay-Of"

export interface Selection {
  readonly queue: string
  /** DLQ sequences; empty with `all`. */
  readonly seqs: ReadonlyArray<number>
  readonly all: boolean
}

/** The selected dead letters of the queue; names every sequence that is not one of them. */
export const select = async (jsm: JetStreamManager, s: Selection): Promise<Array<DeadLetterEntry>> => {
  if (!s.all && s.seqs.length === 0) throw new Error("say which dead letters: --seq N (repeatable) or --all")
  if (s.all) return listDeadLetters(jsm, s.queue, Number.POSITIVE_INFINITY)
  const found = await Promise.all(s.seqs.map((n) => getDeadLetter(jsm, n)))
  const missing = s.seqs.filter((_, i) => found[i]?.queue !== s.queue)
  if (missing.length > 0) throw new Error(`no dead letter of queue ${s.queue} with DLQ sequence ${missing.join(", ")} (see jetscale dlq list ${s.queue})`)
  return found.filter((e): e is DeadLetterEntry => e !== undefined)
}

export interface Replayed {
  readonly dlqSeq: number
  readonly subject: string
  readonly streamSeq: number
}

/** The headers of a replayed job: the original ones, without jetscale's, tracing's and the server's. */
export const replayHeaders = (e: DeadLetterEntry) => {
  const h = carriedHeaders(recordToHeaders(e.headers), [replayOfHeader, "traceparent", "tracestate"])
  h.set(replayOfHeader, String(e.dlqSeq))
  return h
}

/**
 * Republishes one dead letter to its original subject, then removes it from the DLQ. The publish id
 * makes a repeated replay of one dead letter (a crash between the publish and the removal) count
 * once within the work stream's duplicate window.
 */
export const replayOne = async (js: JetStreamClient, jsm: JetStreamManager, e: DeadLetterEntry, headers: MsgHdrs): Promise<Replayed> => {
  const ack = await js.publish(e.subject, e.data, { headers, msgID: `jetscale-replay:${e.dlqSeq}:${e.failedAt}` })
  await jsm.streams.deleteMessage(dlqStream, e.dlqSeq)
  return { dlqSeq: e.dlqSeq, subject: e.subject, streamSeq: ack.seq }
}

/** Deletes the selected dead letters (all of the queue's at once with `all`); returns how many. */
export const purge = async (jsm: JetStreamManager, s: Selection, entries: ReadonlyArray<DeadLetterEntry>): Promise<number> => {
  if (s.all) return (await jsm.streams.purge(dlqStream, { filter: dlqSubject(s.queue) })).purged
  for (const e of entries) await jsm.streams.deleteMessage(dlqStream, e.dlqSeq)
  return entries.length
}
