// Which workers count as what, and which replicas a scale-in drains. Pure: the reconcile step feeds
// it the runtime's list, the loop's draining set and the workers' own reports.
import type { WorkerInfo } from "../runtime/driver.ts"
import type { QueueWorkerStates } from "./worker-states.ts"

export interface Replicas {
  /** Serving the decided replica count. */
  readonly running: ReadonlyArray<WorkerInfo>
  /** Asked to drain (by this scaler, or before it restarted): finishing their jobs, then exiting. */
  readonly draining: ReadonlyArray<WorkerInfo>
  readonly exited: ReadonlyArray<WorkerInfo>
}

/** A worker drains when the loop asked it to, or when it says so itself (a scaler restarted since). */
export const isDraining = (w: WorkerInfo, draining: ReadonlySet<string>, reports: QueueWorkerStates): boolean =>
  draining.has(w.id) || reports.get(w.instance)?.state === "draining"

export const classify = (workers: ReadonlyArray<WorkerInfo>, draining: ReadonlySet<string>, reports: QueueWorkerStates): Replicas => ({
  running: workers.filter((w) => w.state === "running" && !isDraining(w, draining, reports)),
  draining: workers.filter((w) => w.state === "running" && isDraining(w, draining, reports)),
  exited: workers.filter((w) => w.state === "exited")
})

/**
 * The `count` replicas a scale-in drains: idle ones first, then those with the fewest jobs in
 * flight (by their last report; one that has not reported yet counts as busiest), the newest
 * first among equals (the oldest have warm caches and connections).
 */
export const pickForScaleIn = (running: ReadonlyArray<WorkerInfo>, reports: QueueWorkerStates, count: number): ReadonlyArray<WorkerInfo> => {
  const load = (w: WorkerInfo) => reports.get(w.instance)?.inFlight ?? Number.POSITIVE_INFINITY
  return [...running].sort((a, b) => load(a) - load(b) || b.startedAt - a.startedAt).slice(0, Math.max(0, count))
}
