// A job delivered before its `Jetscale-Not-Before` time (see ./not-before.ts) does not run: it is
// copied, data and headers, to the delayed stream (`jetscale.delayed.<queue>`), from which the scaler
// moves it back into the queue when due, and the original is acked. The copy's Nats-Msg-Id is fixed by
// the original's stream and sequence, so a redelivery of the original (its ack lost) is not copied
// twice within the delayed stream's duplicate window. A failed copy is NAKed for a retry soon. None of
// this counts as a run, an attempt or a failure of the job.
import type { JetStreamClient, JsMsg } from "@nats-io/jetstream"
import { headers, Match } from "@nats-io/transport-node"
import { delayedSubject, notBeforeHeader } from "../jetstream/names.ts"
import { delayedHeaders } from "../delay/message.ts"
import { errorText, send } from "./job.ts"
import { notBefore } from "./not-before.ts"

export const movedMsgId = (stream: string, seq: number): string => `jetscale-moved-${stream}-${seq}`

/** After a failed copy: soon, but not in a tight loop. */
export const moveRetryMs = 1000

export interface DelayedMoverOptions {
  readonly js: JetStreamClient
  readonly queue: string
  readonly stream: string
  /** Acks the original once the copy is stored (see ./ack.ts). */
  readonly ack: (m: JsMsg) => boolean
  readonly log: (line: string) => void
}

export interface DelayedMover {
  /** True when `m` is not due yet: it is being moved, and is no longer the caller's. */
  readonly moveIfEarly: (m: JsMsg) => boolean
  /** The moves still under way. */
  readonly pending: () => ReadonlyArray<Promise<void>>
  readonly moved: () => number
}

/** Resolves once the delayed stream has stored the copy; it comes back on the subject it was sent to. */
const copyToDelayed = async (o: DelayedMoverOptions, m: JsMsg, atMs: number): Promise<void> => {
  // The server's own control headers (Nats-Msg-Id, Nats-Expected-*) would act on the copy: left out.
  const own = headers()
  for (const [key, values] of m.headers ?? []) {
    if (key.toLowerCase().startsWith("nats-")) continue
    for (const v of values) own.append(key, v)
  }
  await o.js.publish(delayedSubject(o.queue), m.data, { headers: delayedHeaders(own, atMs, m.subject), msgID: movedMsgId(o.stream, m.seq) })
}

export const makeDelayedMover = (o: DelayedMoverOptions): DelayedMover => {
  const moves = new Set<Promise<void>>()
  let moved = 0
  return {
    moveIfEarly: (m) => {
      const value = m.headers?.get(notBeforeHeader, Match.IgnoreCase)
      const when = notBefore(value, Date.now())
      if (when._tag === "invalid") o.log(`job ${m.seq}: header ${notBeforeHeader} ${JSON.stringify(value?.slice(0, 64))} ignored (${when.reason}): running it now`)
      if (when._tag !== "later") return false
      const move: Promise<void> = copyToDelayed(o, m, when.atMs)
        .then(() => {
          moved++
          // Not acked (the connection is gone): redelivered, and the copy is deduplicated.
          o.ack(m)
        }, (e: unknown) => {
          o.log(`job ${m.seq}: not moved to ${delayedSubject(o.queue)}, retry in ${moveRetryMs}ms: ${errorText(e)}`)
          send(() => m.nak(moveRetryMs))
        })
        .finally(() => moves.delete(move))
      moves.add(move)
      return true
    },
    pending: () => [...moves],
    moved: () => moved
  }
}
