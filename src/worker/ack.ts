// Acks that do not wait, and survive a reconnect: the job's slot is free at once; the acks of one
// turn of the event loop go out together (one socket write, not one each) and are confirmed in a
// batch by one PING/PONG round trip (the server answers a PING only after it has read everything
// sent before it on the connection). Acks not covered by a PONG (the connection dropped, a
// nats-server restart) are sent again until one is, so a finished job does not come back as a
// redelivery. A stopping worker waits for this (bounded).
import type { JsMsg } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/transport-node"

const ackPayload = "+ACK"

export interface AckerOptions {
  /** How long one confirmation round trip is waited for before the acks are sent again. */
  readonly confirmTimeoutMs: number
  /** After this long an ack is given up: the server has redelivered the job by then (ack wait). */
  readonly giveUpAfterMs: number
}

export interface Acker {
  /** Sends the ack; false when the connection is closed (JetStream then redelivers after ack wait). */
  readonly ack: (m: JsMsg) => boolean
  /** Resolves when every ack sent so far is confirmed or given up. */
  readonly settled: () => Promise<void>
  readonly stats: () => { readonly resent: number; readonly unconfirmed: number }
}

/** The ack subject of a delivery (nats.js has it on every JsMsg but leaves it out of the interface). */
const replyOf = (m: JsMsg): string | undefined => {
  const reply = (m as { readonly reply?: unknown }).reply
  return typeof reply === "string" && reply.length > 0 ? reply : undefined
}

interface SentAck {
  readonly reply: string
  readonly firstSentAt: number
  /** The connection's generation when it was (last) sent: a disconnect since voids a PONG. */
  generation: number
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export const makeAcker = (nc: NatsConnection, options: AckerOptions): Acker => {
  const counts = { resent: 0, unconfirmed: 0 }
  let sent: Array<SentAck> = []
  let outgoing: Array<string> = []
  let generation = 0
  let confirming: Promise<void> | undefined

  void (async () => {
    for await (const s of nc.status()) if (s.type === "disconnect" || s.type === "reconnect") generation++
  })().catch(() => {})

  const flushed = (): Promise<boolean> => new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), options.confirmTimeoutMs)
    nc.flush().then(() => resolve(true), () => resolve(false)).finally(() => clearTimeout(timer))
  })

  const publish = (reply: string) => {
    try {
      nc.publish(reply, ackPayload)
    } catch {
      // Closed or draining: not confirmed, so counted as unconfirmed or sent again.
    }
  }

  const confirmAll = async () => {
    for (let attempt = 0; sent.length > 0 || outgoing.length > 0; ) {
      // Acks of the same turn of the event loop are written together and share one round trip.
      await new Promise((r) => setImmediate(r))
      const now = Date.now()
      for (const reply of outgoing) {
        publish(reply)
        sent.push({ reply, firstSentAt: now, generation })
      }
      outgoing = []
      const batch = sent
      sent = []
      const before = generation
      const ok = await flushed()
      const stale = batch.filter((a) => !ok || a.generation !== before || generation !== before)
      if (stale.length === 0) {
        attempt = 0
        continue
      }
      if (nc.isClosed()) {
        counts.unconfirmed += stale.length + sent.length + outgoing.length
        sent = []
        outgoing = []
        return
      }
      await sleep(Math.min(1000, 50 * 2 ** attempt++))
      const retryAt = Date.now()
      for (const a of stale) {
        if (retryAt - a.firstSentAt >= options.giveUpAfterMs) {
          counts.unconfirmed++
          continue
        }
        publish(a.reply)
        counts.resent++
        a.generation = generation
        sent.push(a)
      }
    }
  }

  const confirm = () => {
    if (confirming !== undefined) return
    confirming = confirmAll().finally(() => {
      confirming = undefined
      // Acks sent after the last pass looked.
      if (sent.length > 0 || outgoing.length > 0) confirm()
    })
  }

  return {
    ack: (m) => {
      const reply = replyOf(m)
      if (reply === undefined || nc.isClosed()) return false
      outgoing.push(reply)
      confirm()
      return true
    },
    settled: async () => {
      while (confirming !== undefined || sent.length > 0 || outgoing.length > 0) {
        confirm()
        await confirming
      }
    },
    stats: () => ({ ...counts })
  }
}
