// How long this worker's jobs take, for its state report (the scaler's `rate` signal multiplies the
// arrival rate by it): the mean over the jobs finished in the last 60 s, in one-second buckets (memory
// stays the same at any rate), and the count of jobs finished since start.

const bucketMs = 1000
const buckets = 60

export interface JobTimes {
  /** One finished job and its run time. */
  readonly add: (ms: number) => void
  /** The mean run time of the last 60 s (undefined when none finished), and the count since start. */
  readonly read: () => { readonly meanJobMs: number | undefined; readonly jobsDone: number }
}

export const makeJobTimes = (now: () => number = Date.now): JobTimes => {
  const sums = new Float64Array(buckets)
  const counts = new Float64Array(buckets)
  const seconds = new Float64Array(buckets).fill(-1)
  let done = 0
  return {
    add: (ms) => {
      done++
      const second = Math.floor(now() / bucketMs)
      const i = second % buckets
      if (seconds[i] !== second) {
        seconds[i] = second
        sums[i] = 0
        counts[i] = 0
      }
      sums[i]! += Number.isFinite(ms) && ms > 0 ? ms : 0
      counts[i]! += 1
    },
    read: () => {
      const second = Math.floor(now() / bucketMs)
      let sum = 0
      let count = 0
      for (let i = 0; i < buckets; i++) {
        if (seconds[i]! > second - buckets) {
          sum += sums[i]!
          count += counts[i]!
        }
      }
      return { meanJobMs: count > 0 ? Math.round((sum / count) * 1000) / 1000 : undefined, jobsDone: done }
    }
  }
}
