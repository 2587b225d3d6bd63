// The body of `POST /api/queues/<name>/jobs`: one JSON job, or a JSON array of jobs (a batch; a
// job that is itself an array is sent wrapped: `[[1, 2]]`), and its `Idempotency-Key` header.
// Checked by hand so each refusal names what was wrong, with the HTTP status it gets. When the jobs
// may run goes in the query, not in the body (the body is the job itself, whatever its fields):
// `?delay=10m` (or a number of ms) or `?at=<RFC 3339>`.
import { Result } from "effect"
import { dueTime } from "../delay/due.ts"

/** A batch holds at most this many jobs. */
export const maxBatchJobs = 1000
/** An Idempotency-Key is 1 to 200 visible ASCII characters. */
const idempotencyKeyPattern = /^[\x21-\x7e]{1,200}$/
/** Room kept under max_payload for a job's headers (trace context, Nats-Msg-Id). */
const headerRoomBytes = 512

export interface JobsRequest {
  readonly jobs: ReadonlyArray<string>
  readonly batch: boolean
  readonly idempotencyKey: string | undefined
}

export interface JobsRefusal {
  readonly status: 400 | 413
  readonly message: string
}

const refuse = (status: 400 | 413, message: string) => Result.fail<JobsRefusal>({ status, message })

export const parseJobsBody = (text: string, idempotencyKey: string | undefined, maxPayload: number): Result.Result<JobsRequest, JobsRefusal> => {
  if (idempotencyKey !== undefined && !idempotencyKeyPattern.test(idempotencyKey)) {
    return refuse(400, "Idempotency-Key: expected 1 to 200 visible ASCII characters")
  }
  if (text.trim() === "") return refuse(400, "body: expected a JSON job (or a JSON array of jobs), got an empty body")
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    return refuse(400, `body: invalid JSON (${e instanceof Error ? e.message : String(e)})`)
  }
  const batch = Array.isArray(value)
  const items: ReadonlyArray<unknown> = batch ? value as ReadonlyArray<unknown> : [value]
  if (items.length === 0) return refuse(400, "body: an empty array holds no job")
  if (items.length > maxBatchJobs) return refuse(413, `body: ${items.length} jobs in one batch, at most ${maxBatchJobs}`)
  const jobs = items.map((item) => JSON.stringify(item))
  const limit = maxPayload - headerRoomBytes
  const large = jobs.findIndex((j) => Buffer.byteLength(j) > limit)
  if (large >= 0) {
    const where = batch ? `body[${large}]` : "body"
    return refuse(413, `${where}: ${Buffer.byteLength(jobs[large]!).toLocaleString("en")} bytes, over the ${limit.toLocaleString("en")} a job may have (the NATS server's max_payload of ${maxPayload.toLocaleString("en")} bytes less room for headers)`)
  }
  return Result.succeed({ jobs, batch, idempotencyKey })
}

/** A query parameter as `queryParam` reads it: absent, once, or several times. */
type QueryValue = string | ReadonlyArray<string> | undefined

/**
 * The due time of the jobs from the `delay` and `at` query parameters: ms since the epoch, or
 * undefined for "now" (neither given, or an `at` within the last minute).
 */
export const parseJobsTiming = (query: { readonly delay: QueryValue; readonly at: QueryValue }, now: number): Result.Result<number | undefined, JobsRefusal> => {
  const { delay, at } = query
  if (typeof delay === "object") return refuse(400, `delay: given ${delay.length} times, expected once`)
  if (typeof at === "object") return refuse(400, `at: given ${at.length} times, expected once`)
  const r = dueTime({ delay, at }, now, { delay: "delay", at: "at" })
  return "problem" in r ? refuse(400, r.problem) : Result.succeed(r.due)
}
