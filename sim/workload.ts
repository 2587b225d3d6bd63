// The jobs of one simulation: arrival times drawn from a trace (Poisson per 100 ms step, seeded)
// and each job's run time. Drawn once and shared by every policy, so they all see the same jobs.
import { drawJobMs, type JobDistribution } from "./jobs.ts"
import { makeRandom, poisson } from "./random.ts"
import type { Trace } from "./traces.ts"

/** The simulator's time step. */
export const TICK_MS = 100
/** Bounds of one run. */
export const MAX_DURATION_MS = 24 * 3_600_000
export const MAX_JOBS = 5_000_000

export interface Workload {
  readonly trace: Trace
  readonly jobs: JobDistribution
  readonly seed: number
  readonly durationMs: number
  /** Arrival time (ms) of each job, ascending; jobs arriving in (t - 100 ms, t] are queued at step t. */
  readonly arrivalMs: Float64Array
  /** Run time (ms) of each job. */
  readonly runMs: Float64Array
  /**
   * Where in its interval the scaler's first evaluation falls, as a share of the interval in [0, 1):
   * a poller's phase is arbitrary, so a load that starts on a round minute does not always meet a
   * poll at once (or always just miss one).
   */
  readonly evalPhase: number
}

export const makeWorkload = (
  options: { readonly trace: Trace; readonly jobs: JobDistribution; readonly seed: number; readonly durationMs: number }
): Workload | string => {
  const { trace, jobs, seed, durationMs } = options
  const random = makeRandom(seed)
  const arrivals: Array<number> = []
  const runs: Array<number> = []
  for (let start = 0; start < durationMs; start += TICK_MS) {
    const rate = Math.max(0, trace.rateAt((start + TICK_MS / 2) / 1000))
    const n = poisson(random, (rate * TICK_MS) / 1000)
    if (arrivals.length + n > MAX_JOBS) return `the trace gives more than ${MAX_JOBS} jobs: shorten --duration or lower the rate`
    const times = Array.from({ length: n }, () => start + TICK_MS * (1 - random.next())).sort((a, b) => a - b)
    for (const t of times) {
      arrivals.push(t)
      runs.push(drawJobMs(jobs, random))
    }
  }
  const evalPhase = makeRandom(seed ^ 0x5bd1e995).next()
  return { trace, jobs, seed, durationMs, arrivalMs: Float64Array.from(arrivals), runMs: Float64Array.from(runs), evalPhase }
}
