// Which workers count as what, and which replicas a scale-in drains or suspends. Pure: the reconcile
// step feeds it the runtime's list, the loop's draining and suspending sets and the workers' own reports.
import type { WorkerInfo } from "../runtime/driver.ts"
import type { QueueWorkerStates } from "./worker-states.ts"

export interface Replicas {
  /** Serving the decided replica count. */
  readonly running: ReadonlyArray<WorkerInfo>
  /** Asked to drain (by this scaler, or before it restarted): finishing their jobs, then exiting. */
  readonly draining: ReadonlyArray<WorkerInfo>
  /** `idle: suspend`: cordoned, finishing their jobs; frozen once they report `suspended`. */
  readonly suspending: ReadonlyArray<WorkerInfo>
  /** Frozen (`idle: suspend`): thawed by the next scale-up before any new replica starts. */
  readonly suspended: ReadonlyArray<WorkerInfo>
  readonly exited: ReadonlyArray<WorkerInfo>
}

/** A worker drains when the loop asked it to, or when it says so itself (a scaler restarted since). */
export const isDraining = (w: WorkerInfo, draining: ReadonlySet<string>, reports: QueueWorkerStates): boolean =>
  draining.has(w.id) || reports.get(w.instance)?.state === "draining"

/** A worker that says it is suspending or suspended (a scaler restarted since it was asked). */
export const reportsSuspending = (w: WorkerInfo, reports: QueueWorkerStates): boolean => {
  const state = reports.get(w.instance)?.state
  return state === "suspending" || state === "suspended"
}

export const classify = (
  workers: ReadonlyArray<WorkerInfo>, draining: ReadonlySet<string>, reports: QueueWorkerStates, suspending: ReadonlySet<string> = new Set()
): Replicas => {
  const live = workers.filter((w) => w.state === "running")
  const drains = live.filter((w) => isDraining(w, draining, reports))
  const cordoned = live.filter((w) => !drains.includes(w) && suspending.has(w.id))
  return {
    running: live.filter((w) => !drains.includes(w) && !cordoned.includes(w)),
    draining: drains,
    suspending: cordoned,
    suspended: workers.filter((w) => w.state === "paused"),
    exited: workers.filter((w) => w.state === "exited")
  }
}

/**
 * The `count` replicas a scale-in drains: idle ones first, then those with the fewest jobs in
 * flight (by their last report; one that has not reported yet counts as busiest), the newest
 * first among equals (the oldest have warm caches and connections).
 */
export const pickForScaleIn = (running: ReadonlyArray<WorkerInfo>, reports: QueueWorkerStates, count: number): ReadonlyArray<WorkerInfo> => {
  const load = (w: WorkerInfo) => reports.get(w.instance)?.inFlight ?? Number.POSITIVE_INFINITY
  return [...running].sort((a, b) => load(a) - load(b) || b.startedAt - a.startedAt).slice(0, Math.max(0, count))
}
