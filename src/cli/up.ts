// `jetscale up`: runs the scaler and its admin API in the foreground until SIGINT/SIGTERM. Docker
// workers are left running (the next `up` adopts them); process workers are drained, since they
// can't be adopted.
import { Effect, Layer } from "effect"
import { Command } from "effect/cli"
import { loadScalerConfig } from "../config/load.ts"
import { configFlag, printWorkerLine, reportFailure } from "./common.ts"

export const up = Command.make("up", { config: configFlag }, ({ config: path }) =>
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
).pipe(Command.withDescription("run the scaler (and its admin API on admin.listen) in the foreground"))
