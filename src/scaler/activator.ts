// The activator: while a queue has zero replicas, a core NATS subscription on its subjects wakes the
// queue's reconcile loop on the first message (push, not poll). Dropped while replicas run.
import type { MsgHdrs, NatsConnection, Subscription } from "@nats-io/transport-node"
import { Effect } from "effect"

export interface Activator {
  /** Subscribes when `active`, unsubscribes otherwise; idempotent. */
  readonly set: (active: boolean) => Effect.Effect<void>
  /**
   * Messages seen since the last call (they may not be in the consumer's counts yet), and the headers
   * of the first of them: its trace is the one the wake-up joins.
   */
  readonly takeSeen: Effect.Effect<{ readonly count: number; readonly first: MsgHdrs | undefined; readonly firstAt: number | undefined }>
  /** Whether messages were seen since the last `takeSeen` (read without taking them). */
  readonly hasSeen: () => boolean
  readonly close: Effect.Effect<void>
}

export const makeActivator = (nc: NatsConnection, subjects: ReadonlyArray<string>, wake: () => void): Activator => {
  let subs: Array<Subscription> = []
  let seen = 0
  let first: MsgHdrs | undefined
  let firstAt: number | undefined
  const set = (active: boolean) => Effect.try(() => {
    if (active && subs.length === 0) {
      subs = subjects.map((subject) => nc.subscribe(subject, {
        callback: (err, m) => {
          if (err) return
          if (seen++ === 0) {
            firstAt = Date.now()
            // Malformed headers must not throw inside nats.js's reader.
            try {
              first = m.headers
            } catch {
              first = undefined
            }
          }
          wake()
        }
      }))
    } else if (!active && subs.length > 0) {
      for (const s of subs) s.unsubscribe()
      subs = []
    }
  }).pipe(Effect.catch((e) => Effect.logWarning(`activator for ${subjects.join(", ")}: ${String(e.cause ?? e)}`)))
  return {
    set,
    takeSeen: Effect.sync(() => {
      const taken = { count: seen, first, firstAt }
      seen = 0
      first = undefined
      firstAt = undefined
      return taken
    }),
    hasSeen: () => seen > 0,
    close: set(false)
  }
}
