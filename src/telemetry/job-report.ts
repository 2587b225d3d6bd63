// What workers tell the scaler about finished jobs, on `jetscale.metrics.jobs.<queue>`: one message
// a second with the jobs since the last one, counted by outcome and by run-time bucket (the
// buckets of `jetscale_job_duration_seconds`), so the scaler's counters and histogram come out the
// same as with one message per job. No Effect here: the worker SDK uses it too.
//   {"jobs":[{"outcome":"succeeded","count":12,"seconds":0.034,"le":0.005}, ...]}
// `seconds` is the entries' total run time; `le` the bucket's upper bound (null: above the last).
// The single-job form `{"outcome":"succeeded","seconds":0.02}` (other SDKs) is read as count 1.

/** Job run times: 5 ms .. 10 min. */
export const jobDurationBuckets: ReadonlyArray<number> = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]

/** `succeeded`: acked; `failed`: NAKed for a retry; `dead_lettered`: sent to the DLQ. */
export type JobOutcome = "succeeded" | "failed" | "dead_lettered"
const outcomes: ReadonlyArray<string> = ["succeeded", "failed", "dead_lettered"]
/** Why a worker dead-lettered a job itself. */
export type WorkerDeadLetterReason = "invalid_payload" | "rejected"
const reasons: ReadonlyArray<string> = ["invalid_payload", "rejected"]

export interface JobReportEntry {
  readonly outcome: JobOutcome
  readonly reason?: WorkerDeadLetterReason
  readonly count: number
  readonly seconds: number
  readonly le: number | null
}

/** Largest count one entry may claim (a worker at 100k jobs/s reports 100k a second). */
const maxCount = 10_000_000
const maxEntries = 256

const bucketOf = (seconds: number): number | null => jobDurationBuckets.find((le) => seconds <= le) ?? null

export interface JobReportBatcher {
  readonly add: (outcome: JobOutcome, seconds: number, reason?: WorkerDeadLetterReason) => void
  /** The report of everything added since the last take, or undefined when nothing was. */
  readonly take: () => string | undefined
}

export const makeJobReportBatcher = (): JobReportBatcher => {
  let entries = new Map<string, { outcome: JobOutcome; reason?: WorkerDeadLetterReason; count: number; seconds: number; le: number | null }>()
  return {
    add: (outcome, seconds, reason) => {
      const le = bucketOf(seconds)
      const key = `${outcome}/${reason ?? ""}/${le}`
      const entry = entries.get(key)
      if (entry) {
        entry.count++
        entry.seconds += seconds
      } else {
        entries.set(key, { outcome, ...(reason ? { reason } : {}), count: 1, seconds, le })
      }
    },
    take: () => {
      if (entries.size === 0) return undefined
      const jobs = [...entries.values()]
      entries = new Map()
      return JSON.stringify({ jobs })
    }
  }
}

const isEntry = (e: unknown): e is JobReportEntry => {
  if (typeof e !== "object" || e === null) return false
  const r = e as Record<string, unknown>
  return typeof r.outcome === "string" && outcomes.includes(r.outcome)
    && (r.reason === undefined || (typeof r.reason === "string" && reasons.includes(r.reason)))
    && typeof r.count === "number" && Number.isInteger(r.count) && r.count >= 1 && r.count <= maxCount
    && typeof r.seconds === "number" && Number.isFinite(r.seconds) && r.seconds >= 0
    && (r.le === null || (typeof r.le === "number" && jobDurationBuckets.includes(r.le)))
}

/** The entries of a report (either form), or a text saying what was wrong with it. */
export const parseJobReport = (body: string): ReadonlyArray<JobReportEntry> | string => {
  let json: unknown
  try {
    json = JSON.parse(body)
  } catch {
    return "not JSON"
  }
  if (typeof json !== "object" || json === null) return "expected an object"
  const r = json as Record<string, unknown>
  if (r.jobs === undefined) {
    const single = { ...r, count: 1, le: typeof r.seconds === "number" ? bucketOf(r.seconds) : null }
    return isEntry(single) ? [single] : "expected {outcome, seconds} or {jobs: [...]}"
  }
  if (!Array.isArray(r.jobs) || r.jobs.length > maxEntries) return `jobs: expected a list of at most ${maxEntries} entries`
  const bad = r.jobs.findIndex((e) => !isEntry(e))
  return bad >= 0 ? `jobs[${bad}]: expected {outcome, count (1..${maxCount}), seconds >= 0, le (a bucket bound or null), reason?}` : r.jobs
}
