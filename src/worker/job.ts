// One job: decode its payload, run the handler (the worker heartbeats it meanwhile), then ack or NAK
// with the backoff delay. The run and the settling are apart, so a batch (./batch.ts) reuses both.
import type { JsMsg } from "@nats-io/jetstream"
// Deep imports keep `import "jetscale/worker"` fast (the `effect` barrel loads every module).
import type * as Schedule from "effect/Schedule"
import { delayForAttempt } from "./backoff.ts"
import { formatMillis } from "../config/format.ts"
import { InvalidPayloadError, type Decode } from "./decode.ts"
import { headersToRecord } from "../nats/headers.ts"
import { isNonRetryable } from "./errors.ts"

/** What a handler gets besides the payload. */
export interface JobContext {
  readonly subject: string
  readonly streamSeq: number
  /** 1 on the first delivery. */
  readonly deliveries: number
  readonly headers: Readonly<Record<string, string>>
  readonly instance: string
  /**
   * Aborted when the job is interrupted: a shutdown ran out of time (the job is handed back) or
   * `jobTimeout` passed (the job fails). The job's outcome is settled then; nothing waits for the handler.
   */
  readonly signal: AbortSignal
  /** Extends the ack deadline by hand (heartbeats are already automatic). */
  readonly working: () => void
}

export type Handler<A> = (payload: A, ctx: JobContext) => unknown | Promise<unknown>

export type JobOutcome =
  | { readonly _tag: "acked" }
  | { readonly _tag: "dead-lettered"; readonly reason: "invalid_payload" | "rejected"; readonly error: string }
  | { readonly _tag: "naked"; readonly delayMs: number; readonly error: string }
  /** Shutdown timeout hit, or the connection was gone for the ack/NAK: redelivered by JetStream. */
  | { readonly _tag: "abandoned" }

/** What the worker does with failures besides NAKing (see ../dlq). */
export interface FailureHooks {
  /** Whether this delivery is the job's last (its consumer's max_deliver): it is NAKed without delay. */
  readonly isLast: (m: JsMsg) => boolean
  /** Keeps the error of a failed attempt for the dead-letter step. */
  readonly record: (m: JsMsg, error: unknown, deliveries: number) => Promise<void>
  /** Forgets the recorded error once a retried job has succeeded. */
  readonly clear: (m: JsMsg) => Promise<void>
  /** Copies the message to the DLQ; the job is acked only after this resolved. */
  readonly deadLetter: (m: JsMsg, reason: "invalid_payload" | "rejected", error: string) => Promise<void>
}

export interface JobOptions<A> {
  /** JSON, checked against the worker's schema (see ./decode.ts). */
  readonly decode: Decode<A>
  readonly handler: Handler<A>
  readonly backoff: Schedule.Schedule<unknown>
  /** Ends the worker's heartbeats for this job; called before its ack or NAK goes out. */
  readonly release: (m: JsMsg) => void
  readonly instance: string
  /** Aborted when a shutdown runs out of time: unfinished jobs are handed back. */
  readonly shutdown: AbortSignal
  /** Longest run of the job; none when undefined. */
  readonly timeoutMs: number | undefined
  readonly failures: FailureHooks
  /** Acks the job (confirmed in the background, see ./ack.ts); false when the connection is gone. */
  readonly ack: (m: JsMsg) => boolean
}

export const errorText = (e: unknown): string => e instanceof Error ? `${e.name}: ${e.message}` : String(e)

/**
 * Sends an ack/NAK/heartbeat; false when the connection is closed or draining. The job is then
 * not lost: JetStream redelivers it after ack_wait.
 */
export const send = (f: () => void): boolean => {
  try {
    f()
    return true
  } catch {
    return false
  }
}

export class JobTimeoutError extends Error {
  override readonly name = "JobTimeoutError"
}

/** What ended a run first: its handler, or an interruption. */
export type Ending =
  | { readonly _tag: "done"; readonly value: unknown }
  | { readonly _tag: "failed"; readonly error: unknown }
  /** The stop timeout of a shutdown: the job is handed back. */
  | { readonly _tag: "shutdown" }
  /** `jobTimeout`: the job fails like any failure. */
  | { readonly _tag: "timeout"; readonly afterMs: number }

/** What interrupts a run: a shutdown out of time, and the job timeout. */
export interface RunLimits {
  readonly shutdown: AbortSignal
  readonly timeoutMs: number | undefined
}

/** What settles a job once its run has ended: the ack, and the NAK/dead-letter path of a failure. */
export type SettleOptions = Pick<JobOptions<unknown>, "backoff" | "failures" | "ack">

/**
 * Runs `work` (a handler call, given its abort signal) until it ends or is interrupted, whichever
 * comes first. A handler that finished is done even if an interruption (stop timeout, job timeout)
 * comes in the same turn; an interrupted handler has its signal aborted and is not waited for.
 */
export const runInterruptible = async (work: (signal: AbortSignal) => unknown, limits: RunLimits): Promise<Ending> => {
  const job = new AbortController()
  let interrupt: (e: Ending) => void = () => {}
  const interrupted = new Promise<Ending>((resolve) => { interrupt = resolve })
  const onShutdown = () => interrupt({ _tag: "shutdown" })
  if (limits.shutdown.aborted) onShutdown()
  else limits.shutdown.addEventListener("abort", onShutdown, { once: true })
  const timeoutMs = limits.timeoutMs
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => interrupt({ _tag: "timeout", afterMs: timeoutMs }), timeoutMs)
  try {
    const run = (async () => await work(job.signal))()
    const settled = run.then((value): Ending => ({ _tag: "done", value }), (error: unknown): Ending => ({ _tag: "failed", error }))
    let ending = await Promise.race([settled, interrupted])
    if (ending._tag === "shutdown" || ending._tag === "timeout") {
      // A handler that finishes just as the interruption comes (in the same turn of the event loop,
      // before its signal is aborted) is done, not handed back or failed. One that is still running
      // then is aborted and not waited for: whatever it does after the abort is not a success.
      const same = await Promise.race([settled, new Promise<undefined>((r) => setTimeout(() => r(undefined), 0))])
      if (same?._tag === "done") ending = same
      else {
        job.abort(ending._tag === "timeout" ? "job timeout" : "stop timeout")
        run.catch(() => {})
      }
    }
    return ending
  } finally {
    clearTimeout(timer)
    limits.shutdown.removeEventListener("abort", onShutdown)
  }
}

/** The context a handler gets for one delivery. */
export const contextOf = (m: JsMsg, signal: AbortSignal, instance: string): JobContext => ({
  subject: m.subject,
  streamSeq: m.seq,
  deliveries: m.info.deliveryCount,
  headers: headersToRecord(m.headers),
  instance,
  signal,
  working: () => void send(() => m.working())
})

/** Runs one delivery to its end: ack on success, NAK with the backoff delay on failure (see `settle`). */
export const runJob = async <A>(m: JsMsg, opts: JobOptions<A>): Promise<JobOutcome> => {
  try {
    const ending = await runInterruptible((signal) => opts.handler(opts.decode(m.data), contextOf(m, signal, opts.instance)), opts)
    opts.release(m)
    return await settle(m, ending, opts)
  } finally {
    opts.release(m)
  }
}

/** Acks a job whose run is done, hands it back after a shutdown, or fails it (timeout, error). */
export const settle = async (m: JsMsg, ending: Ending, opts: SettleOptions): Promise<JobOutcome> => {
  switch (ending._tag) {
    case "done": {
      if (!opts.ack(m)) return { _tag: "abandoned" }
      if (m.info.deliveryCount > 1) await opts.failures.clear(m).catch(() => {})
      return { _tag: "acked" }
    }
    case "shutdown":
      return { _tag: "abandoned" }
    case "timeout":
      return fail(m, new JobTimeoutError(`job timed out after ${formatMillis(ending.afterMs)}`), opts)
    case "failed":
      return fail(m, ending.error, opts)
  }
}

/**
 * A failed attempt: dead-lettered at once when it can never succeed (`nonRetryable`, by default
 * from the error), else recorded and NAKed with the backoff.
 */
export const fail = async (m: JsMsg, e: unknown, opts: SettleOptions, nonRetryable = isNonRetryable(e)): Promise<JobOutcome> => {
  const error = errorText(e)
  const deliveries = m.info.deliveryCount
  if (nonRetryable) {
    const reason = e instanceof InvalidPayloadError ? "invalid_payload" : "rejected"
    const copied = await opts.failures.deadLetter(m, reason, error).then(() => true, () => false)
    // Not copied (the DLQ is unreachable): fall through and retry like any failure, losing nothing.
    if (copied) return opts.ack(m) ? { _tag: "dead-lettered", reason, error } : { _tag: "abandoned" }
  }
  await opts.failures.record(m, e, deliveries).catch(() => {})
  const last = opts.failures.isLast(m)
  // No delay on the last attempt: the MAX_DELIVERIES advisory (and the DLQ entry) follows at once.
  const delayMs = last ? 0 : delayForAttempt(opts.backoff, deliveries)
  return send(() => m.nak(delayMs)) ? { _tag: "naked", delayMs, error } : { _tag: "abandoned" }
}
