// `jetscale up`: runs the scaler and its admin API in the foreground until SIGINT/SIGTERM. Docker
// workers are left running (the next `up` adopts them); process workers are drained, since they
// can't be adopted.
import { Effect, Layer } from "effect"
import { Command } from "effect/cli"
import * as Admin from "../admin/server.ts"
import * as Scaler from "../scaler/scaler.ts"
import * as Tracing from "../telemetry/tracing.ts"
import { servicesWithLogs } from "../logs/services.ts"
import { loadScalerConfig } from "../config/load.ts"
import { configFlag, printWorkerLine, reportFailure } from "./common.ts"

export const up = Command.make("up", { config: configFlag }, ({ config: path }) =>
  Effect.gen(function*() {
    const config = yield* loadScalerConfig(path)
    const scaler = Scaler.layer(config).pipe(
      Layer.provide(servicesWithLogs(config, "jetscale-scaler", printWorkerLine)),
      Layer.provide(Tracing.layer("jetscale-scaler"))
    )
    yield* Layer.launch(Admin.layer(config.admin).pipe(Layer.provideMerge(scaler)))
  }).pipe(reportFailure)
).pipe(Command.withDescription("run the scaler (and its admin API on admin.listen) in the foreground"))
