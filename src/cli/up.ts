// `jetscale up`: runs the scaler and its admin API in the foreground until SIGINT/SIGTERM; SIGHUP
// or an edit of the config file reloads it (../scaler/reload.ts). Docker
// workers are left running (the next `up` adopts them); process workers are drained, since they
// can't be adopted.
import { Effect, Layer } from "effect"
import { loadScalerConfig } from "../config/load.ts"
import { printWorkerLine, reportFailure } from "./common.ts"

const ignoreEarlyHangup = () => {}

export const runUp = ({ config: path }: { readonly config: string }) =>
  Effect.gen(function*() {
    // A SIGHUP before the config watch starts must not end the scaler (Node's default): the config
    // it is about to load is the file as it is now anyway.
    process.on("SIGHUP", ignoreEarlyHangup)
    const config = yield* loadScalerConfig(path)
    // The scaler's modules load here, not with the CLI: other commands start without them.
    const [Admin, Submit, Scaler, Reload, Tracing, { servicesWithLogs }] = yield* Effect.promise(() => Promise.all([
      import("../admin/server.ts"), import("../admin/submit.ts"), import("../scaler/scaler.ts"), import("../scaler/reload.ts"),
      import("../telemetry/tracing.ts"), import("../logs/services.ts")
    ]))
    // One NATS connection and runtime (a layer is built once per launch) for the scaler, the live
    // reload and the admin API.
    const services = servicesWithLogs(config, "jetscale-scaler", printWorkerLine)
    const tracing = Tracing.layer("jetscale-scaler")
    const scaler = Scaler.layer(config).pipe(Layer.provideMerge(services), Layer.provide(tracing))
    const reload = Layer.effectDiscard(Reload.watchConfig(path))
    const admin = Admin.layer(config.admin).pipe(Layer.provide(Submit.layer))
    yield* Layer.launch(Layer.merge(admin, reload).pipe(Layer.provideMerge(scaler), Layer.provide(tracing)))
  }).pipe(reportFailure)
