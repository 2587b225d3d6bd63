// `jetscale events [-f]`: scale events as they happen (from `jetscale.events.scale.>`).
import { Console, Effect } from "effect"
import { Command, Flag } from "effect/cli"
import type { ScaleEvent } from "../scaler/events.ts"
import { Nats, layer as natsLayer } from "../nats/connection.ts"
import { configFlag, jsonFlag, load, reportFailure } from "./common.ts"

export const formatEvent = (e: ScaleEvent) => `${e.at}  ${e.queue}  ${e.from} -> ${e.to}  ${e.kind}: ${e.reason}`

export const events = Command.make("events", {
  config: configFlag,
  json: jsonFlag,
  follow: Flag.Boolean("follow").pipe(Flag.withAlias("f"), Flag.withDescription("keep printing until interrupted (the default: events are live only)"), Flag.withDefault(true))
}, ({ config: path, json }) =>
  Effect.gen(function*() {
    const config = yield* load(path)
    yield* Effect.gen(function*() {
      const { nc } = yield* Nats
      yield* Console.error("waiting for scale events (Ctrl-C to stop)")
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
).pipe(Command.withDescription("print scale events as they happen"))
