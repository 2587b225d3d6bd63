// What a queue's reconcile step tells the policy besides the backlog (pure): jobs in flight and
// mean job time from the workers' reports, and the arrival rate from the consumer's sequence
// numbers over the last few steps. The oldest waiting job's age comes from the stream
// (../jetstream/backlog.ts, read only for queues that scale on `waitTime`).
import type { Backlog } from "../jetstream/backlog.ts"
import type { Observation } from "./policy.ts"
import type { QueueWorkerStates } from "./worker-states.ts"

/** Jobs that ever entered the queue (by sequence) at a time: consecutive samples give the arrival rate. */
export interface ArrivalSample {
  readonly at: number
  readonly entered: number
}

/** The arrival rate is measured over about this long. */
export const arrivalWindowMs = 10_000
const maxSamples = 64

/** Keeps the samples of the last `arrivalWindowMs` (and the one just before them, the window's start). */
export const addArrivalSample = (samples: ReadonlyArray<ArrivalSample>, backlog: Backlog, now: number): ReadonlyArray<ArrivalSample> => {
  if (backlog.entered === undefined) return samples
  const entered = backlog.entered
  // A purged or recreated stream starts its sequences again: the old samples mean nothing then.
  const kept = samples.length > 0 && samples[samples.length - 1]!.entered > entered ? [] : samples
  const next = [...kept, { at: now, entered }]
  const firstInWindow = next.findIndex((s) => now - s.at <= arrivalWindowMs)
  return next.slice(Math.max(0, firstInWindow - 1)).slice(-maxSamples)
}

/** Jobs per second over the samples; undefined until they span a second. */
export const arrivalRate = (samples: ReadonlyArray<ArrivalSample>): number | undefined => {
  if (samples.length < 2) return undefined
  const first = samples[0]!
  const last = samples[samples.length - 1]!
  const dt = last.at - first.at
  return dt < 1000 ? undefined : ((last.entered - first.entered) * 1000) / dt
}

/** Jobs in flight on the given replicas, by their reports; undefined when none of them reported. */
export const reportedInFlight = (reports: QueueWorkerStates, instances: ReadonlyArray<string>): number | undefined => {
  const heard = instances.flatMap((i) => {
    const r = reports.get(i)
    return r === undefined ? [] : [r.inFlight]
  })
  return heard.length === 0 ? undefined : heard.reduce((a, b) => a + b, 0)
}

/** Mean job time over the workers that finished jobs lately, weighted by none (each worker's mean counts once). */
export const reportedMeanJobMs = (reports: QueueWorkerStates): number | undefined => {
  const means = [...reports.values()].flatMap((r) => (r.meanJobMs === undefined ? [] : [r.meanJobMs]))
  return means.length === 0 ? undefined : means.reduce((a, b) => a + b, 0) / means.length
}

/** The policy's observation of one step. */
export const observation = (input: {
  readonly backlog: Backlog
  readonly oldestWaitingAt: number | undefined
  readonly now: number
  readonly inFlight: number | undefined
  readonly arrivals: ReadonlyArray<ArrivalSample>
  readonly meanJobMs: number | undefined
}): Observation => {
  const rate = arrivalRate(input.arrivals)
  return {
    pending: input.backlog.pending,
    ackPending: input.backlog.ackPending,
    ...(input.oldestWaitingAt === undefined ? {} : { oldestWaitMs: Math.max(0, input.now - input.oldestWaitingAt) }),
    ...(input.inFlight === undefined ? {} : { inFlight: input.inFlight }),
    ...(rate === undefined ? {} : { arrivalPerSec: rate }),
    ...(input.meanJobMs === undefined ? {} : { meanJobMs: input.meanJobMs })
  }
}
