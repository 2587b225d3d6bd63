// A dead letter: the original payload and headers plus the public `Jetscale-*` headers saying where it
// came from, why it failed and when. Shared by the worker (right away) and the advisory processor.
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node"

export const DeadLetterHeaders = {
  queue: "Jetscale-Queue",
  subject: "Jetscale-Subject",
  streamSeq: "Jetscale-Stream-Seq",
  deliveries: "Jetscale-Deliveries",
  reason: "Jetscale-Reason",
  error: "Jetscale-Error",
  failedAt: "Jetscale-Failed-At"
} as const

export type DeadLetterReason = "max_deliveries" | "invalid_payload" | "rejected"

export interface DeadLetter {
  readonly queue: string
  readonly stream: string
  readonly subject: string
  readonly streamSeq: number
  readonly deliveries: number
  readonly reason: DeadLetterReason
  readonly error: string
  readonly failedAt: Date
}

/** Text of the error when a message ran out of deliveries and no attempt recorded one. */
export const workerLostError = "worker lost: no ack within ackWait"

/**
 * One DLQ entry per message: JetStream drops a second publish with the same id. The stored time
 * (ms) tells apart two messages with one sequence number, in a stream that was deleted and recreated.
 */
export const deadLetterMsgId = (stream: string, seq: number, storedAtMs: number): string => `${stream}:${seq}:${storedAtMs}`

const oneLine = (s: string) => s.replace(/[\r\n]+/g, " ").slice(0, 4000)

/**
 * Headers worth carrying over to a copy: not the server's `Nats-*` ones (a copy must not inherit a
 * producer's expected-sequence, rollup or message-id header) and not earlier `Jetscale-*` ones.
 */
export const carriedHeaders = (original: MsgHdrs | undefined, alsoDrop: ReadonlyArray<string> = []): MsgHdrs => {
  const h = natsHeaders()
  const drop = new Set([...Object.values(DeadLetterHeaders), ...alsoDrop].map((k) => k.toLowerCase()))
  for (const [k, values] of original ?? []) {
    if (k.toLowerCase().startsWith("nats-") || drop.has(k.toLowerCase())) continue
    for (const v of values) h.append(k, v)
  }
  return h
}

/** The original headers (see `carriedHeaders`) plus the dead-letter headers. */
export const deadLetterHeaders = (original: MsgHdrs | undefined, d: DeadLetter): MsgHdrs => {
  const h = carriedHeaders(original)
  h.set(DeadLetterHeaders.queue, d.queue)
  h.set(DeadLetterHeaders.subject, d.subject)
  h.set(DeadLetterHeaders.streamSeq, String(d.streamSeq))
  h.set(DeadLetterHeaders.deliveries, String(d.deliveries))
  h.set(DeadLetterHeaders.reason, d.reason)
  h.set(DeadLetterHeaders.error, oneLine(d.error))
  h.set(DeadLetterHeaders.failedAt, d.failedAt.toISOString())
  return h
}
