// Picks the runtime driver named in the config. Each driver is loaded only when it is used: a CLI
// command on the process driver (or with no runtime at all) never loads the Docker client.
// Every driver name has its case: a new name fails the type check here instead of falling through.
import { Duration, Effect, Layer } from "effect"
import type { JetscaleConfig } from "../config/model.ts"
import type { DrainOverNats, LogLine } from "./driver.ts"

/** `drainOverNats`: for the swarm driver's workers on other nodes. */
export const fromConfig = (config: JetscaleConfig, onLog?: (line: LogLine) => void, drainOverNats?: DrainOverNats) => {
  const logs = onLog ? { onLog } : {}
  const docker = { network: config.runtime.docker.network, deployment: config.deployment, ...(config.runtime.docker.socketPath ? { socketPath: config.runtime.docker.socketPath } : {}), ...logs }
  switch (config.runtime.driver) {
    case "docker":
      return Layer.unwrap(Effect.promise(() => import("./docker.ts")).pipe(Effect.map((DockerDriver) => DockerDriver.layer(docker))))
    // The Docker API of a Swarm manager: runtime.docker's socket and network are the manager's.
    case "swarm":
      return Layer.unwrap(Effect.promise(() => import("./swarm.ts")).pipe(Effect.map((SwarmDriver) =>
        SwarmDriver.layer({ ...docker, ...(drainOverNats ? { drainOverNats } : {}) }))))
    case "process":
      return Layer.unwrap(Effect.promise(() => import("./process.ts")).pipe(Effect.map((ProcessDriver) =>
        ProcessDriver.layer({ graceMs: Math.max(0, ...config.queues.map((q) => Duration.toMillis(q.stopTimeout))), ...logs }))))
  }
}
