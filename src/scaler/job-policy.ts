// Job mode's decision (`mode: job`), pure: how many job workers to start, or to let go, now. A job
// worker takes one job (or one batch), runs it and exits. Each job the consumer holds is either held
// by a worker (its reports say how many), or open: waiting (`pending`), or in `ackPending` on no
// worker (a retry in its NAK delay, a crashed worker's job until ackWait, a job past its last attempt
// until a pull makes the server dead-letter it). Each idle worker (running, no job yet) takes one;
// every other open job needs a new worker:
//   start = min(cap - alive, open - idle), never negative.
// A job waiting for its retry thus keeps one worker waiting for it, never more. Idle workers beyond
// the open jobs (nothing is left for them) that have waited `surplusGraceMs` are drained: they stop
// waiting and exit 0 (one that gets a job meanwhile runs it). A worker with a job is never touched.
// At zero the activator's count stands in for jobs the consumer does not count yet.
// `cap` is maxReplicas, or a manual override's count, and no more than the shared budget grants.

/** An idle job worker with no job left for it is drained once it has run this long (counts settle). */
export const surplusGraceMs = 2000

export interface JobInput {
  readonly pending: number
  readonly ackPending: number
  /** Messages the activator saw since the last step: they may not be in the consumer's counts yet. */
  readonly seen: number
  /** Job workers alive (running, starting, or frozen), whatever they do: each takes a slot of the cap. */
  readonly alive: number
  /** Of `alive`, idle ones drained by the scaler, on their way out. */
  readonly draining: number
  /** Of `alive`, those whose last report says they hold a job. */
  readonly busy: number
  /**
   * Of `alive`, those that will take a job: running, holding none, and not on their way out (a job
   * worker reports `draining` once it has its job, and keeps saying so after it).
   */
  readonly idle: number
  /** Of `idle`, those that may be drained: they reported, and started `surplusGraceMs` ago or more. */
  readonly idleSettled: number
  /** Jobs the busy workers hold, by their reports. */
  readonly held: number
  readonly maxReplicas: number
  /** A manual override in force: its count caps the concurrent job workers instead of maxReplicas. */
  readonly override: number | undefined
  /** What the shared budget grants (`scaler.maxReplicas`); undefined without a budget. */
  readonly granted: number | undefined
  readonly activation: number
  /** Until when the crash-loop backoff holds new starts back (ms epoch). */
  readonly nextStartAt: number
  readonly now: number
}

export interface JobPlan {
  /** Job workers to start now. */
  readonly start: number
  /** Idle job workers to drain now (no job is left for them). */
  readonly drain: number
  /** Open jobs left without a worker after this step (held back by the cap, the backoff or activation). */
  readonly unserved: number
  /** `wake` (from zero), `scale-up`, `scale-down` (idle ones drained), or `hold`: the reason says why. */
  readonly kind: "wake" | "scale-up" | "scale-down" | "hold"
  /** The counts, e.g. `job mode: 3 pending, 2 running (2 busy)`. */
  readonly situation: string
  /** What is done about it, e.g. `starting 1`, `at maxReplicas 4`. */
  readonly action: string
  /** `<situation>: <action>`. */
  readonly reason: string
}

const count = (n: number) => (Number.isFinite(n) && n > 0 ? Math.floor(n) : 0)

/** Jobs in `ackPending` that no live worker holds: waiting for a retry or a redelivery. */
export const waitingForRetry = (i: Pick<JobInput, "ackPending" | "held">): number => Math.max(0, count(i.ackPending) - count(i.held))

/** Jobs that no live worker holds (see the file's header). */
export const openJobs = (i: Pick<JobInput, "pending" | "ackPending" | "held" | "seen" | "alive">): number =>
  count(i.alive) === 0 ? Math.max(count(i.pending) + count(i.ackPending), count(i.seen)) : count(i.pending) + waitingForRetry(i)

/** The concurrent job workers allowed before the budget: the override's count, else maxReplicas. */
export const jobCap = (i: Pick<JobInput, "maxReplicas" | "override">): number => count(i.override ?? i.maxReplicas)

/** Job workers the queue needs, within the cap (running ones always stay): what it asks of the budget. */
export const wantedJobWorkers = (i: JobInput): number =>
  Math.max(count(i.alive), Math.min(jobCap(i), count(i.alive) + Math.max(0, openJobs(i) - count(i.idle))))

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? "" : "s"}`

/** What the step does about the backlog now. */
export const planJobs = (i: JobInput): JobPlan => {
  const alive = count(i.alive)
  const open = openJobs(i)
  const idle = count(i.idle)
  const uncovered = Math.max(0, open - idle)
  const cap = Math.min(jobCap(i), i.granted ?? Number.POSITIVE_INFINITY)
  const retries = waitingForRetry(i)
  const situation = `job mode: ${i.pending} pending` +
    `${alive === 0 && i.seen > i.pending + i.ackPending ? ` (activator saw ${i.seen} new)` : ""}` +
    `${retries > 0 ? `, ${plural(retries, "job")} waiting for a retry or redelivery` : ""}` +
    `, ${alive} running (${i.busy} busy${i.draining > 0 ? `, ${i.draining} draining` : ""})`
  const capText = i.override !== undefined ? `override cap ${cap}` : i.granted !== undefined && i.granted < jobCap(i) ? `budget grant ${cap}` : `maxReplicas ${cap}`
  const plan = (kind: JobPlan["kind"], action: string, start = 0, drain = 0): JobPlan =>
    ({ start, drain, unserved: uncovered - start, kind, situation, action, reason: `${situation}: ${action}` })
  if (uncovered === 0) {
    const drain = Math.min(count(i.idleSettled), idle - open)
    return drain > 0
      ? plan("scale-down", `draining ${plural(drain, "idle job worker")}: no job is left for ${drain === 1 ? "it" : "them"}`, 0, drain)
      : plan("hold", "every job has its worker")
  }
  const missing = Math.min(cap - alive, uncovered)
  if (missing <= 0) return plan("hold", `at ${capText}`)
  if (alive === 0 && open < Math.max(1, i.activation)) return plan("hold", `${plural(open, "job")} below activation ${i.activation}`)
  if (i.now < i.nextStartAt) return plan("hold", `crash-loop backoff: next start in ${i.nextStartAt - i.now}ms`)
  return plan(alive === 0 ? "wake" : "scale-up", `starting ${missing}${uncovered > missing ? ` (${capText})` : ""}`, missing)
}
