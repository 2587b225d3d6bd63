// Picks the runtime driver named in the config.
import { Duration } from "effect"
import type { JetscaleConfig } from "../config/model.ts"
import type { LogLine } from "./driver.ts"
import * as DockerDriver from "./docker.ts"
import * as ProcessDriver from "./process.ts"

export const fromConfig = (config: JetscaleConfig, onLog?: (line: LogLine) => void) => {
  const logs = onLog ? { onLog } : {}
  return config.runtime.driver === "docker"
    ? DockerDriver.layer({ network: config.runtime.docker.network, deployment: config.deployment, ...(config.runtime.docker.socketPath ? { socketPath: config.runtime.docker.socketPath } : {}), ...logs })
    : ProcessDriver.layer({ graceMs: Math.max(0, ...config.queues.map((q) => Duration.toMillis(q.stopTimeout))), ...logs })
}

