// `jetscale events [-f]`: scale events (`jetscale.events.scale.>`), config reloads
// (`jetscale.events.config`) and changes of leader (`jetscale.events.leader`) as they happen.
import { Console, Effect } from "effect"
import { configEventSubject, leaderEventSubject } from "../jetstream/names.ts"
import { describeDiff } from "../scaler/config-diff.ts"
import type { ScaleEvent } from "../scaler/events.ts"
import type { LeaderEvent } from "../scaler/leadership.ts"
import type { ConfigEvent } from "../scaler/reload.ts"
import { Nats, layer as natsLayer } from "../nats/connection.ts"
import { endWhenClientGoes } from "./client-gone.ts"
import { load, reportFailure } from "./common.ts"

export const formatEvent = (e: ScaleEvent) => `${e.at}  ${e.queue}  ${e.from} -> ${e.to}  ${e.kind}: ${e.reason}`

export const formatConfigEvent = (e: ConfigEvent) => e.type === "reloaded"
  ? `${e.at}  config  reloaded (${e.trigger}): ${describeDiff(e)}`
  : `${e.at}  config  refused (${e.trigger}), the running config stays: ${e.problems.join("; ")}`

export const formatLeaderEvent = (e: LeaderEvent) => `${e.at}  leader  scaler ${e.scaler} is ${e.role} of deployment ${e.deployment}: ${e.reason}`

export const runEvents = ({ config: path, json }: { readonly config: string; readonly json: boolean }) =>
  Effect.gen(function*() {
    const config = yield* load(path)
    yield* Effect.gen(function*() {
      const { nc } = yield* Nats
      yield* Console.error("waiting for scale, config and leader events (Ctrl-C to stop)")
      endWhenClientGoes()
      yield* Effect.callback<never>(() => {
        const print = <E>(format: (e: E) => string) => (_e: unknown, m: { string: () => string; json: <T>() => T }) => {
          try {
            console.log(json ? m.string() : format(m.json<E>()))
          } catch {
            console.log(m.string())
          }
        }
        const subs = [
          nc.subscribe("jetscale.events.scale.>", { callback: print(formatEvent) }),
          nc.subscribe(configEventSubject, { callback: print(formatConfigEvent) }),
          nc.subscribe(leaderEventSubject, { callback: print(formatLeaderEvent) })
        ]
        return Effect.sync(() => subs.forEach((sub) => sub.unsubscribe()))
      })
    }).pipe(Effect.provide(natsLayer(config.nats, "jetscale-events")))
  }).pipe(reportFailure)
