// `jetscale up`: runs the scaler in the foreground until SIGINT/SIGTERM. Docker workers are left
// running (the next `up` adopts them); process workers are drained, since they can't be adopted.
import { Effect, Layer } from "effect"
import { Command } from "effect/cli"
import * as Scaler from "../scaler/scaler.ts"
import * as Tracing from "../telemetry/tracing.ts"
import { configFlag, load, printWorkerLine, reportFailure, servicesFor } from "./common.ts"

export const up = Command.make("up", { config: configFlag }, ({ config: path }) =>
  Effect.gen(function*() {
    const config = yield* load(path)
    yield* Layer.launch(Scaler.layer(config).pipe(
      Layer.provide(servicesFor(config, "jetscale-scaler", printWorkerLine)),
      Layer.provide(Tracing.layer("jetscale-scaler"))
    ))
  }).pipe(reportFailure)
).pipe(Command.withDescription("run the scaler in the foreground"))
