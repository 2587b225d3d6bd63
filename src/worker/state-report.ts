// The worker's state as the scaler sees it, and its jobs in flight, published on
// `jetscale.workers.<queue>.<instance>` every second and at once on a change: `running`;
// `draining` (a scale-in: it exits when its jobs are done); `suspending` (cordoned for
// `idle: suspend`: no new pulls, its jobs finishing) and `suspended` (cordoned, no job, no pull
// open: the scaler may freeze it). The scaler drains idle replicas first on a scale-in, and a
// restarted scaler adopts draining and suspended ones as such. `meanJobMs` and `jobsDone` feed the
// scaler's `rate` signal.
import type { NatsConnection } from "@nats-io/transport-node"
import { workerStateSubject } from "../jetstream/names.ts"
import { send } from "./job.ts"

export type WorkerPhase = "running" | "draining" | "suspending" | "suspended"

/** The JSON body of a state report. */
export interface WorkerStateReport {
  readonly instance: string
  readonly state: WorkerPhase
  /** Jobs delivered to it and not yet settled (running, or waiting in a batch being filled). */
  readonly inFlight: number
  /**
   * Mean run time in ms of the jobs it finished in the last 60 s; absent when none. A job of a batch
   * counts the batch's run time divided by the batch's jobs (the time one slot spent per job).
   */
  readonly meanJobMs?: number
  /** Jobs it finished (acked, retried or dead-lettered) since it started. */
  readonly jobsDone: number
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
