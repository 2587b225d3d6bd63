// Replay and purge of dead letters. A replay republishes to the original subject and removes the
// dead letter only after JetStream acknowledged the publish, so a failure in between loses nothing.
import { headers as natsHeaders } from "@nats-io/transport-node"
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream"
import { dlqStream, dlqSubject } from "../jetstream/names.ts"
import { DeadLetterHeaders } from "./message.ts"
import { listDeadLetters, type DeadLetterEntry } from "./read.ts"

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
  const entries = await listDeadLetters(jsm, s.queue)
  if (s.all) return entries
  const missing = s.seqs.filter((n) => !entries.some((e) => e.dlqSeq === n))
  if (missing.length > 0) throw new Error(`no dead letter of queue ${s.queue} with DLQ sequence ${missing.join(", ")} (see jetscale dlq list ${s.queue})`)
  return entries.filter((e) => s.seqs.includes(e.dlqSeq))
}

export interface Replayed {
  readonly dlqSeq: number
  readonly subject: string
  readonly streamSeq: number
}

export const replay = async (js: JetStreamClient, jsm: JetStreamManager, entries: ReadonlyArray<DeadLetterEntry>): Promise<Array<Replayed>> => {
  const done: Array<Replayed> = []
  const ours = new Set<string>([...Object.values(DeadLetterHeaders), "Nats-Msg-Id", replayOfHeader].map((h) => h.toLowerCase()))
  for (const e of entries) {
    const h = natsHeaders()
    for (const [k, v] of Object.entries(e.headers)) if (!ours.has(k.toLowerCase())) h.set(k, v)
    h.set(replayOfHeader, String(e.dlqSeq))
    const ack = await js.publish(e.subject, e.data, { headers: h })
    await jsm.streams.deleteMessage(dlqStream, e.dlqSeq)
    done.push({ dlqSeq: e.dlqSeq, subject: e.subject, streamSeq: ack.seq })
  }
  return done
}

/** Deletes the selected dead letters (all of the queue's at once with `all`); returns how many. */
export const purge = async (jsm: JetStreamManager, s: Selection, entries: ReadonlyArray<DeadLetterEntry>): Promise<number> => {
  if (s.all) return (await jsm.streams.purge(dlqStream, { filter: dlqSubject(s.queue) })).purged
  for (const e of entries) await jsm.streams.deleteMessage(dlqStream, e.dlqSeq)
  return entries.length
}
