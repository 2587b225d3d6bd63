// Scale events: every decision that changes a queue's replica count is logged with its reason and
// published as JSON on `jetscale.events.scale.<queue>`.
import type { NatsConnection } from "@nats-io/transport-node"
import { Effect } from "effect"
import { scaleEventSubject } from "../jetstream/names.ts"

/** The public JSON of a scale event. */
export interface ScaleEvent {
  readonly queue: string
  readonly from: number
  readonly to: number
  readonly direction: "up" | "down"
  readonly kind: string
  readonly reason: string
  readonly backlog: number
  readonly pending: number
  readonly ackPending: number
  readonly at: string
}

export const publishScaleEvent = (nc: NatsConnection, event: ScaleEvent) =>
  Effect.gen(function*() {
    yield* Effect.logInfo(`scale ${event.queue} ${event.from} -> ${event.to}: ${event.reason}`)
    yield* Effect.try(() => nc.publish(scaleEventSubject(event.queue), JSON.stringify(event))).pipe(
      Effect.catch((e) => Effect.logWarning(`scale event for ${event.queue} not published: ${String(e)}`))
    )
  })
