// The worker SDK's options and the handle of a running worker (see ./run.ts).
import type { Schema } from "effect"
import type { BatchHandler } from "./batch.ts"
import type { BatchOptions } from "./batch-options.ts"
import type { Handler } from "./job.ts"
import type { WorkerSettings } from "./settings.ts"
import type { WorkerPhase } from "./state-report.ts"

interface BaseWorkerOptions<A> {
  /** Payloads are JSON; with a schema they are decoded and checked before the handler runs. */
  readonly schema?: Schema.Codec<A, unknown>
  /**
   * Handler calls at once (jobs, or batches with `batch`); default JETSCALE_CONCURRENCY, else 1. A
   * batch takes a slot for each of its jobs: a worker pulls up to `concurrency * batch.size` jobs.
   */
  readonly concurrency?: number
  /** Settings that win over the environment (tests, running by hand). */
  readonly settings?: Partial<WorkerSettings>
  readonly log?: (line: string) => void
}

/**
 * A worker that runs one job per handler call. With `batch` (see BatchWorkerOptions) the handler
 * gets jobs in batches instead.
 *
 * Job mode (JETSCALE_MODE=job, or `settings.mode: "job"`): the worker takes one job (one batch with
 * `batch`), waiting up to JETSCALE_JOB_WAIT_MS (default 30 s) for it, runs it as any job (retries,
 * dead-lettering, heartbeats, traces, reports), then stops; `runWorker` exits 0, also when the job
 * failed (it is NAKed for a retry or dead-lettered) or none came.
 *
 * Priority levels (JETSCALE_CONSUMERS, or `settings.consumers`: a queue's level consumers, highest
 * first): a free slot takes a job of the highest level that has one, and a job of a lower level the
 * worker holds starts after at most JETSCALE_PRIORITY_BURST (default 10) jobs of higher levels
 * (see ./puller.ts); job mode takes its job from the highest level with jobs pending.
 *
 * A job whose `Jetscale-Not-Before` header (RFC 3339, or ms since the epoch) is more than 1 s ahead
 * does not run: it is moved to `jetscale.delayed.<queue>` (the scaler brings it back when due) and
 * never reaches the handler.
 */
export interface WorkerOptions<A> extends BaseWorkerOptions<A> {
  readonly batch?: undefined
  readonly handler: Handler<A>
}

/**
 * A worker whose handler gets jobs in batches: up to `batch.size` jobs, or those that came within
 * `batch.timeout` of the batch's first job. Each job is settled on its own from the handler's result
 * (see BatchHandler): acked, retried with the backoff, or dead-lettered; a payload that does not
 * decode is dead-lettered alone and never reaches a batch. `concurrency` counts batches (default 1).
 * In job mode the worker takes one batch; the rest of it is pulled for at least 1 s.
 */
export interface BatchWorkerOptions<A> extends BaseWorkerOptions<A> {
  readonly batch: BatchOptions
  readonly handler: BatchHandler<A>
}

export type AnyWorkerOptions<A> = WorkerOptions<A> | BatchWorkerOptions<A>

export interface RunningWorker {
  readonly settings: WorkerSettings
  /** Shutdown: resolves when every job has been acked, or handed back after stopTimeout, and NATS is closed. */
  readonly stop: () => Promise<void>
  /** Scale-in drain: stops pulling, lets every job in flight finish without a time limit, then closes. */
  readonly drain: () => Promise<void>
  /** `idle: suspend`: stops pulling and reports `suspended` once its jobs are done (SIGTSTP). */
  readonly suspend: () => void
  /** Pulls again after `suspend` (SIGCONT, sent on a thaw). */
  readonly resume: () => void
  /** running, draining, suspending or suspended. */
  readonly phase: () => WorkerPhase
  /** Resolves when the worker has stopped, for whatever reason (in job mode: once its job is done). */
  readonly stopped: Promise<void>
  readonly stats: () => {
    readonly acked: number
    readonly naked: number
    readonly deadLettered: number
    /** Jobs delivered and not settled yet (running, or in a batch being filled). */
    readonly inFlight: number
    /** Acks sent again because the server did not confirm them (a reconnect). */
    readonly acksResent: number
    /** Jobs received ahead of a free slot, waiting to start (heartbeated meanwhile). */
    readonly prefetched: number
    /** Jobs delivered before their `Jetscale-Not-Before` time and moved to the delayed stream. */
    readonly delayed: number
  }
}
