// `jetscale events [-f]`: scale events as they happen (from `jetscale.events.scale.>`).
import { Console, Effect } from "effect"
import type { ScaleEvent } from "../scaler/events.ts"
import { Nats, layer as natsLayer } from "../nats/connection.ts"
import { endWhenClientGoes } from "./client-gone.ts"
import { load, reportFailure } from "./common.ts"

export const formatEvent = (e: ScaleEvent) => `${e.at}  ${e.queue}  ${e.from} -> ${e.to}  ${e.kind}: ${e.reason}`

export const runEvents = ({ config: path, json }: { readonly config: string; readonly json: boolean }) =>
  Effect.gen(function*() {
    const config = yield* load(path)
    yield* Effect.gen(function*() {
      const { nc } = yield* Nats
      yield* Console.error("waiting for scale events (Ctrl-C to stop)")
      endWhenClientGoes()
      yield* Effect.callback<never>(() => {
        const sub = nc.subscribe("jetscale.events.scale.>", {
          callback: (_e, m) => {
            try {
              console.log(json ? m.string() : formatEvent(m.json<ScaleEvent>()))
            } catch {
              console.log(m.string())
            }
          }
        })
        return Effect.sync(() => sub.unsubscribe())
      })
    }).pipe(Effect.provide(natsLayer(config.nats, "jetscale-events")))
  }).pipe(reportFailure)
