// The CLI's services with the log T-junction wired in: NATS, and the configured runtime whose worker
// lines go, at most logs.linesPerSecond per worker (drops counted in jetscale_log_lines_dropped_total),
// to NATS (live + JETSCALE_LOGS) and to an optional echo; a worker the runtime cannot signal is
// drained through NATS (jetscale.control). The runtime is built on the NATS
// connection, so it is released first: a process driver drains its workers while NATS is still up,
// and the connection's drain then flushes their last lines.
import { Effect, Layer } from "effect"
import type { JetscaleConfig } from "../config/model.ts"
import * as Nats from "../nats/connection.ts"
import { workerControlSubject } from "../jetstream/names.ts"
import type { LogLine, WorkerInfo } from "../runtime/driver.ts"
import * as RuntimeLayer from "../runtime/layer.ts"
import * as Metrics from "../telemetry/metrics.ts"
import { makeLogSink } from "./sink.ts"

/** NATS and the configured runtime (like `servicesFor` in cli/common.ts), plus the NATS log sink (and `echo`, e.g. `printWorkerLine`). */
export const servicesWithLogs = (config: JetscaleConfig, name: string, echo?: (line: LogLine) => void) => {
  const runtime = Layer.unwrap(Effect.gen(function*() {
    const { nc } = yield* Nats.Nats
    // The sink runs outside any fiber: its counts go to the metric registry of this context.
    const record = Effect.runSyncWith(yield* Effect.context<never>())
    const sink = makeLogSink(nc, {
      linesPerSecond: config.logs.linesPerSecond,
      onDropped: (queue, reason, count) => record(Metrics.recordLogLinesDropped(queue, reason, count)),
      ...(echo ? { echo } : {})
    })
    const drainOverNats = (w: WorkerInfo) => Effect.tryPromise(() => nc.request(workerControlSubject(w.queue, w.instance), "drain", { timeout: 2000 })).pipe(
      Effect.map((reply) => reply.string() === "ok"),
      Effect.orElseSucceed(() => false)
    )
    return RuntimeLayer.fromConfig(config, sink, drainOverNats)
  }))
  return Layer.provideMerge(runtime, Nats.layer(config.nats, name))
}
