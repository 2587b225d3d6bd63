// What a batch handler may return, read into one result per job: nothing (all succeeded), an array
// (one result per job, in order), or a Map from `job.id` to a result (jobs left out succeeded). A
// result that can't be read fails the whole batch, so a failed job is never acked by mistake.

/** One job's result in a batch: done, or failed (retried with the backoff, or dead-lettered when `retry: false`). */
export type JobResult =
  | { readonly ok: true }
  | { readonly error: Error | string; readonly retry?: boolean }

/** A batch handler's per-job results: an array in the batch's order, or a Map keyed by `job.id`. */
export type BatchResult = ReadonlyArray<JobResult> | ReadonlyMap<string, JobResult>

/** A job's result, read. */
export type JobVerdict =
  | { readonly _tag: "ok" }
  | { readonly _tag: "error"; readonly error: Error; readonly nonRetryable: boolean | undefined }

export class BatchResultError extends Error {
  override readonly name = "BatchResultError"
}

const ok: JobVerdict = { _tag: "ok" }

/** A job's result; nothing (`undefined`, as `Promise.all` of handlers that return nothing gives) is success. */
const verdictOf = (r: unknown, where: string): JobVerdict => {
  if (r === undefined || r === null) return ok
  if (typeof r === "object" && r !== null) {
    const { ok: isOk, error, retry } = r as { readonly ok?: unknown; readonly error?: unknown; readonly retry?: unknown }
    if (isOk === true && error === undefined) return ok
    if ((error instanceof Error || typeof error === "string") && (retry === undefined || typeof retry === "boolean")) {
      return { _tag: "error", error: typeof error === "string" ? new Error(error.slice(0, 4096)) : error, nonRetryable: retry === undefined ? undefined : !retry }
    }
  }
  throw new BatchResultError(`batch result ${where}: expected { ok: true } or { error: Error | string, retry?: boolean }`)
}

/** One verdict per id, in order; throws BatchResultError for a result it cannot read. */
export const readBatchResult = (value: unknown, ids: ReadonlyArray<string>): ReadonlyArray<JobVerdict> => {
  if (value === undefined || value === null) return ids.map(() => ok)
  if (Array.isArray(value)) {
    if (value.length !== ids.length) throw new BatchResultError(`batch result: ${value.length} results for ${ids.length} jobs (one per job, in order)`)
    return value.map((r, i) => verdictOf(r, `[${i}]`))
  }
  if (value instanceof Map) {
    const known = new Set(ids)
    for (const key of value.keys()) {
      if (typeof key !== "string" || !known.has(key)) throw new BatchResultError(`batch result: key ${JSON.stringify(String(key).slice(0, 64))} is not the id of a job of this batch (use job.id)`)
    }
    return ids.map((id) => value.has(id) ? verdictOf(value.get(id), `[${JSON.stringify(id)}]`) : ok)
  }
  throw new BatchResultError("batch result: expected nothing, an array of results or a Map from job.id to a result")
}
