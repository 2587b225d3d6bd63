// Pieces the commands' work shares: clean one-line failures, the config, and the layers that
// connect a command to NATS and the runtime.
import { Console, Effect, Layer } from "effect"
import { loadConfig } from "../config/load.ts"
import type { JetscaleConfig } from "../config/model.ts"
import * as Nats from "../nats/connection.ts"
import type { LogLine } from "../runtime/driver.ts"
import * as RuntimeLayer from "../runtime/layer.ts"

/** Prints `jetscale: <message>` (every line of it) to stderr and sets a failing exit code. */
export const reportFailure = <A, E extends { readonly message: string }, R>(self: Effect.Effect<A, E, R>) =>
  self.pipe(Effect.catch((e) => Console.error(`jetscale: ${e.message}`).pipe(Effect.andThen(Effect.sync(() => { process.exitCode = 1 })))))

export const load = (path: string) => loadConfig(path)

/** NATS and the configured runtime, for commands that read both (worker output goes nowhere). */
export const servicesFor = (config: JetscaleConfig, name: string) =>
  Layer.merge(Nats.layer(config.nats, name), RuntimeLayer.fromConfig(config))

export const printWorkerLine = (l: LogLine) => {
  const text = `[${l.queue}/${l.instance}] ${l.line}\n`
  if (l.stream === "stderr") process.stderr.write(text)
  else process.stdout.write(text)
}
