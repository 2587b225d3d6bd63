// Picks the runtime driver named in the config. Each driver is loaded only when it is used: a CLI
// command on the process driver (or with no runtime at all) never loads the Docker client.
import { Duration, Effect, Layer } from "effect"
import type { JetscaleConfig } from "../config/model.ts"
import type { LogLine } from "./driver.ts"

export const fromConfig = (config: JetscaleConfig, onLog?: (line: LogLine) => void) => {
  const logs = onLog ? { onLog } : {}
  return config.runtime.driver === "docker"
    ? Layer.unwrap(Effect.promise(() => import("./docker.ts")).pipe(Effect.map((DockerDriver) =>
      DockerDriver.layer({ network: config.runtime.docker.network, deployment: config.deployment, ...(config.runtime.docker.socketPath ? { socketPath: config.runtime.docker.socketPath } : {}), ...logs }))))
    : Layer.unwrap(Effect.promise(() => import("./process.ts")).pipe(Effect.map((ProcessDriver) =>
      ProcessDriver.layer({ graceMs: Math.max(0, ...config.queues.map((q) => Duration.toMillis(q.stopTimeout))), ...logs }))))
}
