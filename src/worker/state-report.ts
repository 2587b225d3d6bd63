// The worker's state as the scaler sees it, and its jobs in flight, published on
// `jetscale.workers.<queue>.<instance>` every second and at once on a change: `running`;
// `draining` (a scale-in: it exits when its jobs are done); `suspending` (cordoned for
// `idle: suspend`: no new pulls, its jobs finishing) and `suspended` (cordoned, no job, no pull
// open: the scaler may freeze it). The scaler drains idle replicas first on a scale-in, and a
// restarted scaler adopts draining and suspended ones as such.
import type { NatsConnection } from "@nats-io/transport-node"
import { workerStateSubject } from "../jetstream/names.ts"
import { send } from "./job.ts"

export type WorkerPhase = "running" | "draining" | "suspending" | "suspended"

/** The JSON body of a state report. */
export interface WorkerStateReport {
  readonly instance: string
  readonly state: WorkerPhase
  readonly inFlight: number
}

const everyMs = 1000

/** Publishes `current()` now, every second, and whenever `changed` is called, until `stop`. */
export const startStateReports = (nc: NatsConnection, queue: string, instance: string, current: () => Omit<WorkerStateReport, "instance">) => {
  const subject = workerStateSubject(queue, instance)
  const publish = () => void send(() => nc.publish(subject, JSON.stringify({ instance, ...current() } satisfies WorkerStateReport)))
  const timer = setInterval(publish, everyMs)
  publish()
  return { changed: publish, stop: () => clearInterval(timer) }
}
