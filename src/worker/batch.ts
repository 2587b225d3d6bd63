// One batch: the jobs whose payload decodes go to the handler together; each job is then settled on
// its own (acked, NAKed with its backoff, dead-lettered) from the handler's per-job results, with the
// same code as a single job (./job.ts). A payload that does not decode fails alone, as it always did.
import type { JsMsg } from "@nats-io/jetstream"
import { readBatchResult, type BatchResult, type JobVerdict } from "./batch-result.ts"
import { contextOf, fail, runInterruptible, send, settle, type Ending, type JobContext, type JobOptions, type JobOutcome } from "./job.ts"

/** A job of a batch: its payload and everything a single job's context has. */
export interface Job<A> extends JobContext {
  /** Unique in the queue (`<stream>:<stream seq>`): the key of a Map result. */
  readonly id: string
  readonly payload: A
}

/** What a batch handler gets besides its jobs. */
export interface BatchContext {
  readonly instance: string
  /** Aborted when the batch is interrupted (stop timeout, job timeout); every job's `signal` is this one. */
  readonly signal: AbortSignal
  /** Extends the ack deadline of every job of the batch (heartbeats are already automatic). */
  readonly working: () => void
}

/**
 * Gets up to `batch.size` jobs. Return nothing when all succeeded, per-job results (an array in the
 * jobs' order, or a Map from `job.id`; jobs left out of the Map succeeded) to fail some of them
 * alone, or throw to fail them all (each retried with the backoff).
 */
export type BatchHandler<A> = (jobs: ReadonlyArray<Job<A>>, ctx: BatchContext) => BatchResult | void | Promise<BatchResult | void>

export interface BatchRunOptions<A> extends Omit<JobOptions<A>, "handler"> {
  readonly handler: BatchHandler<A>
  readonly stream: string
}

export const jobId = (stream: string, m: JsMsg): string => `${stream}:${m.seq}`

/** Runs a batch to its end; one outcome per message, in order. */
export const runBatch = async <A>(ms: ReadonlyArray<JsMsg>, opts: BatchRunOptions<A>): Promise<ReadonlyArray<JobOutcome>> => {
  const outcomes: Array<Promise<JobOutcome>> = []
  const valid: Array<{ readonly index: number; readonly m: JsMsg; readonly payload: A }> = []
  ms.forEach((m, index) => {
    try {
      valid.push({ index, m, payload: opts.decode(m.data) })
    } catch (e) {
      opts.release(m)
      outcomes[index] = fail(m, e, opts)
    }
  })
  if (valid.length > 0) {
    try {
      const ids = valid.map((v) => jobId(opts.stream, v.m))
      const ending = await runInterruptible((signal) => opts.handler(
        valid.map((v, i): Job<A> => ({ ...contextOf(v.m, signal, opts.instance), id: ids[i]!, payload: v.payload })),
        { instance: opts.instance, signal, working: () => { for (const v of valid) send(() => v.m.working()) } }
      ), opts)
      for (const v of valid) opts.release(v.m)
      const judged = perJob(ending, ids)
      valid.forEach((v, i) => {
        const verdict = "_tag" in judged ? judged : judged[i]!
        outcomes[v.index] = verdict._tag === "error" ? fail(v.m, verdict.error, opts, verdict.nonRetryable)
          : settle(v.m, verdict._tag === "ok" ? ending : verdict, opts)
      })
    } finally {
      for (const v of valid) opts.release(v.m)
    }
  }
  return Promise.all(outcomes)
}

/** Each job's verdict when the batch ran to its end; else its ending, for all (a result that can't be read fails them all). */
const perJob = (ending: Ending, ids: ReadonlyArray<string>): ReadonlyArray<JobVerdict> | Ending => {
  if (ending._tag !== "done") return ending
  try {
    return readBatchResult(ending.value, ids)
  } catch (error) {
    return { _tag: "failed", error }
  }
}
