// Cold-start measurement: from the first message seen at zero replicas to the first job acked on
// that queue (a `+ACK` on `$JS.ACK.<stream>.<consumer>.>`, any of its consumers, which nats.conf lets
// the scaler read), into
// the `jetscale_cold_start_seconds` histogram.
import type { NatsConnection } from "@nats-io/transport-node"
import { Effect } from "effect"
import type { QueueConfig } from "../config/model.ts"
import * as Metrics from "../telemetry/metrics.ts"

/** Gives up after this long: a wake-up whose job never gets acked is not a cold start to measure. */
const giveUpAfterMs = 10 * 60_000

export const measureColdStart = (nc: NatsConnection, q: Pick<QueueConfig, "name" | "stream">, startedAtMs: number) =>
  Effect.callback<number | undefined>((resume) => {
    let sub: ReturnType<NatsConnection["subscribe"]> | undefined
    const timer = setTimeout(() => {
      sub?.unsubscribe()
      resume(Effect.succeed(undefined))
    }, giveUpAfterMs)
    try {
      sub = nc.subscribe(`$JS.ACK.${q.stream}.*.>`, {
        callback: (err, m) => {
          if (err) return
          let body = ""
          try {
            body = m.string()
          } catch { /* not a text payload */ }
          if (body !== "+ACK") return
          clearTimeout(timer)
          sub?.unsubscribe()
          resume(Effect.succeed(Date.now() - startedAtMs))
        }
      })
    } catch {
      clearTimeout(timer)
      resume(Effect.succeed(undefined))
    }
    return Effect.sync(() => {
      clearTimeout(timer)
      sub?.unsubscribe()
    })
  }).pipe(Effect.flatMap((ms) => ms === undefined ? Effect.void : Metrics.recordColdStart(q.name, ms / 1000)))
