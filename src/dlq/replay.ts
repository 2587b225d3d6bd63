// Replay and purge of dead letters. A dead letter is data, not an instruction: a replay publishes
// only to a subject the queue's current config captures, into the queue's own stream, and refuses
// (leaving it in the DLQ) anything else. It removes the dead letter only after JetStream
// acknowledged the publish, so a failure in between loses nothing.
import { JetStreamApiError, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream"
import type { MsgHdrs } from "@nats-io/transport-node"
import type { QueueConfig } from "../config/model.ts"
import { subjectCaptures } from "../config/subjects.ts"
import { dlqStream, dlqSubject } from "../jetstream/names.ts"
import { recordToHeaders } from "../nats/headers.ts"
import { carriedHeaders, DeadLetterHeaders } from "./message.ts"
import { getDeadLetter, type DeadLetterEntry } from "./read.ts"

/** Header on a replayed job naming the dead letter it came from. */
export const replayOfHeader = "Jetscale-Replay-Of"

export interface Selection {
  readonly queue: string
  /** DLQ sequences; empty with `all`. */
  readonly seqs: ReadonlyArray<number>
  readonly all: boolean
}

/** A selected sequence that is not taken, and why. */
export interface Refused {
  readonly dlqSeq: number
  readonly reason: string
}

export interface Selected {
  readonly entries: ReadonlyArray<DeadLetterEntry>
  readonly refused: ReadonlyArray<Refused>
}

/** The dead letters of `s.seqs` on the queue's DLQ subject; every other sequence is refused. */
export const selectSeqs = async (jsm: JetStreamManager, s: Selection): Promise<Selected> => {
  if (s.seqs.length === 0) throw new Error("say which dead letters: --seq N (repeatable) or --all")
  const found = await Promise.all(s.seqs.map((n) => getDeadLetter(jsm, n)))
  const entries: Array<DeadLetterEntry> = []
  const refused: Array<Refused> = []
  s.seqs.forEach((dlqSeq, i) => {
    const e = found[i]
    if (e?.dlqSubject === dlqSubject(s.queue)) entries.push(e)
    else refused.push({ dlqSeq, reason: notOfQueue(s.queue, dlqSeq, e) })
  })
  return { entries, refused }
}

const notOfQueue = (queue: string, dlqSeq: number, e: DeadLetterEntry | undefined) =>
  `no dead letter of queue ${queue} with DLQ sequence ${dlqSeq}` +
  (e ? ` (it is on ${e.dlqSubject}, not ${dlqSubject(queue)})` : ` (see jetscale dlq list ${queue})`)

/**
 * Why `e` must not be replayed into `q`, or undefined when it may: it must sit on the queue's DLQ
 * subject, and its `Jetscale-Subject` must be a plain subject that one of the queue's subjects captures.
 */
export const replayRefusal = (q: QueueConfig, e: DeadLetterEntry): string | undefined => {
  if (e.dlqSubject !== dlqSubject(q.name)) return notOfQueue(q.name, e.dlqSeq, e)
  if (e.subject === "") return `dead letter ${e.dlqSeq} has no ${DeadLetterHeaders.subject} header: nowhere to replay it to`
  if (!q.subjects.some((pattern) => subjectCaptures(pattern, e.subject))) {
    return `dead letter ${e.dlqSeq}: subject ${JSON.stringify(e.subject)} is not one of queue ${q.name}'s subjects (${q.subjects.join(", ")})`
  }
  return undefined
}

/** The server would not store the replayed job (not the queue's stream, the stream full, ...). */
export class ReplayRefused extends Error {
  constructor(message: string) {
    super(message)
    this.name = "ReplayRefused"
  }
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
 * Republishes one dead letter to its original subject, then removes it from the DLQ. The server
 * refuses the publish unless it lands in the queue's stream. The publish id makes a repeated replay
 * of one dead letter (a crash between the publish and the removal) count once within the work
 * stream's duplicate window. Check `replayRefusal` first; fails with ReplayRefused when the server
 * refuses the publish.
 */
export const replayOne = async (js: JetStreamClient, jsm: JetStreamManager, q: QueueConfig, e: DeadLetterEntry, headers: MsgHdrs): Promise<Replayed> => {
  const ack = await js.publish(e.subject, e.data, {
    headers, msgID: `jetscale-replay:${e.dlqSeq}:${e.failedAt}`, expect: { streamName: q.stream }
  }).catch((err: unknown) => {
    if (!(err instanceof JetStreamApiError)) throw err
    throw new ReplayRefused(`dead letter ${e.dlqSeq}: the server refused its publish to ${e.subject} for stream ${q.stream}: ${err.message}`)
  })
  await jsm.streams.deleteMessage(dlqStream, e.dlqSeq)
  return { dlqSeq: e.dlqSeq, subject: e.subject, streamSeq: ack.seq }
}

/** Deletes the selected dead letters (all of the queue's DLQ subject at once with `all`); returns how many. */
export const purge = async (jsm: JetStreamManager, s: Selection, entries: ReadonlyArray<DeadLetterEntry>): Promise<number> => {
  if (s.all) return (await jsm.streams.purge(dlqStream, { filter: dlqSubject(s.queue) })).purged
  for (const e of entries) await jsm.streams.deleteMessage(dlqStream, e.dlqSeq)
  return entries.length
}
