// What a running scaler says of one queue (desired, running, draining, suspended...), asked over NATS
// the way `jetscale status` asks it.
import type { NatsConnection } from "@nats-io/transport-node"
import type { QueueStatus } from "../../src/scaler/queue-loop.ts"
import { statusSubject } from "../../src/scaler/scaler.ts"

export const scalerStatus = async (nc: NatsConnection, queue: string): Promise<QueueStatus | undefined> => {
  const reply = await nc.request(statusSubject, "", { timeout: 1000 })
  return reply.json<{ queues: Array<QueueStatus> }>().queues.find((q) => q.name === queue)
}
