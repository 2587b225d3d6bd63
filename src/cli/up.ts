// `jetscale up`: runs the scaler and its admin API in the foreground until SIGINT/SIGTERM. Docker
// workers are left running (the next `up` adopts them); process workers are drained, since they
// can't be adopted.
import { Effect, Layer } from "effect"
import { loadScalerConfig } from "../config/load.ts"
import { printWorkerLine, reportFailure } from "./common.ts"

export const runUp = ({ config: path }: { readonly config: string }) =>
  Effect.gen(function*() {
    const config = yield* loadScalerConfig(path)
    // The scaler's modules load here, not with the CLI: other commands start without them.
    const [Admin, Scaler, Tracing, { servicesWithLogs }] = yield* Effect.promise(() => Promise.all([
      import("../admin/server.ts"), import("../scaler/scaler.ts"), import("../telemetry/tracing.ts"), import("../logs/services.ts")
    ]))
    const scaler = Scaler.layer(config).pipe(
      Layer.provide(servicesWithLogs(config, "jetscale-scaler", printWorkerLine)),
      Layer.provide(Tracing.layer("jetscale-scaler"))
    )
    yield* Layer.launch(Admin.layer(config.admin).pipe(Layer.provideMerge(scaler)))
  }).pipe(reportFailure)
