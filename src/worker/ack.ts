// Acks that survive a reconnect: every ack asks the server to confirm it (JetStream's double ack)
// and is sent again until it is confirmed, so a nats-server restart in between does not turn a
// finished job into a redelivery. A job's slot is free as soon as the first ack is out; the
// confirmation goes on in the background, and a stopping worker waits for it (bounded).
import type { JsMsg } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/transport-node"

const ackPayload = "+ACK"

export interface AckerOptions {
  /** How long one confirmation is waited for before the ack is sent again. */
  readonly confirmTimeoutMs: number
  /** After this long the ack is given up: the server has redelivered the job by then (ack wait). */
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export const makeAcker = (nc: NatsConnection, options: AckerOptions): Acker => {
  const pending = new Set<Promise<void>>()
  const counts = { resent: 0, unconfirmed: 0 }

  const confirm = async (reply: string) => {
    const deadline = Date.now() + options.giveUpAfterMs
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) counts.resent++
      try {
        await nc.request(reply, ackPayload, { timeout: options.confirmTimeoutMs })
        return
      } catch {
        // Timed out, no responders (a restarting server) or disconnected: try again, in a while.
      }
      if (nc.isClosed() || Date.now() >= deadline) break
      await sleep(Math.min(1000, 50 * 2 ** attempt))
    }
    counts.unconfirmed++
  }

  return {
    ack: (m) => {
      const reply = replyOf(m)
      if (reply === undefined || nc.isClosed()) return false
      const p = confirm(reply).finally(() => pending.delete(p))
      pending.add(p)
      return true
    },
    settled: async () => {
      while (pending.size > 0) await Promise.all(pending)
    },
    stats: () => ({ ...counts })
  }
}
