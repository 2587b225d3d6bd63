// Builds QueueConfig values for tests, with a unique queue name so streams never collide.
import { Duration } from "effect"
import type { QueueConfig } from "../../src/config/model.ts"
import { consumerName, streamName } from "../../src/jetstream/names.ts"

let counter = 0

export const uniqueName = (prefix: string) =>
  `${prefix}-${process.pid.toString(36)}-${(counter++).toString(36)}-${Math.random().toString(36).slice(2, 6)}`

export const testQueue = (prefix: string, over: Partial<QueueConfig> = {}): QueueConfig => {
  const name = over.name ?? uniqueName(prefix)
  return {
    name,
    stream: streamName(name),
    consumer: consumerName,
    subjects: [`jobs.${name}`],
    env: {},
    minReplicas: 0,
    maxReplicas: 3,
    targetPending: 10,
    activation: 1,
    idleTimeout: Duration.seconds(3),
    scaleDownDelay: Duration.seconds(1),
    concurrency: 4,
    ackWait: Duration.seconds(30),
    maxDeliver: 5,
    replicas: 1,
    backoff: { _tag: "list", delays: [Duration.seconds(1)] },
    stopTimeout: Duration.seconds(10),
    limits: {},
    privileged: false,
    idle: "stop",
    mounts: [],
    placement: { constraints: [], preferences: [] },
    signals: ["backlog"],
    targetWait: Duration.seconds(10),
    scaleUpAt: 0.8,
    scaleDownAt: 0.2,
    step: { up: { _tag: "jump" }, down: "half" },
    priority: 0,
    schedule: [],
    mode: "worker",
    levels: [],
    ...over
  }
}
