// The worker's settings, read from the environment the scaler gives each worker.
import { streamName, consumerName } from "../jetstream/names.ts"
import { credentialsFromEnv, type NatsCredentials } from "../nats/credentials.ts"
import type { BackoffSpec, ExponentialBackoff } from "./backoff.ts"

export interface WorkerSettings {
  readonly natsUrl: string
  /** From NATS_USER / NATS_PASSWORD: the scaler passes the worker user's, never its own. */
  readonly credentials: NatsCredentials | undefined
  readonly queue: string
  readonly stream: string
  /** The first of `consumers` (JETSCALE_CONSUMER, `workers` by default). */
  readonly consumer: string
  /**
   * JETSCALE_CONSUMERS: the consumers to take jobs from, highest priority first (a queue's levels,
   * e.g. `workers-high,workers-normal,workers-low`); `[consumer]` when unset.
   */
  readonly consumers: ReadonlyArray<string>
  /**
   * JETSCALE_PRIORITY_BURST (1 to 1000, default 10): with several consumers, a job of a lower level
   * that the worker holds starts after at most this many jobs of higher levels (see ./puller.ts).
   */
  readonly priorityBurst: number
  readonly concurrency: number
  readonly instance: string
  /** NAK delays: ms for attempt 1, 2, 3... (the last repeats), or exponential. */
  readonly backoff: BackoffSpec
  /** Consumer ack wait; heartbeats go out at a third of it. Read from the consumer when unset. */
  readonly ackWaitMs: number | undefined
  /** Grace of a shutdown (SIGTERM): past it, unfinished jobs are handed back. A scale-in drain has none. */
  readonly stopTimeoutMs: number
  /** Longest run of one job (JETSCALE_JOB_TIMEOUT_MS); past it the job fails. None when unset. */
  readonly jobTimeoutMs: number | undefined
  /** When set, the worker drains and exits once this process is gone (process driver). */
  readonly parentPid: number | undefined
  /**
   * JETSCALE_MODE: `worker` (default) runs until stopped; `job` takes one job (or one batch), runs
   * it, and exits 0 once it is acked or handed back for a retry.
   */
  readonly mode: WorkerMode
  /** JETSCALE_JOB_WAIT_MS: how long a job-mode worker waits for its job before it exits (default 30 s). */
  readonly jobWaitMs: number
}

export type WorkerMode = "worker" | "job"

/** At most as many consumers as a queue has priority levels. */
export const maxConsumers = 5
export const priorityBurstBounds = { min: 1, max: 1000, fallback: 10 } as const
const consumerNamePattern = /^[A-Za-z0-9_-]{1,128}$/

/** A pull request lasts at least 1 s (nats.js), so a job-mode wait can't be shorter. */
export const jobWaitBounds = { minMs: 1000, maxMs: 3_600_000 } as const

export class WorkerSettingsError extends Error {
  override readonly name = "WorkerSettingsError"
}

type Env = Readonly<Record<string, string | undefined>>

const positiveInt = (env: Env, key: string, fallback?: number): number => {
  const raw = env[key]
  if (raw === undefined || raw === "") {
    if (fallback !== undefined) return fallback
    throw new WorkerSettingsError(`${key}: required`)
  }
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 0) throw new WorkerSettingsError(`${key}: expected a whole number >= 0, got "${raw}"`)
  return n
}

/** An optional whole number of at least `min` (0 would break what it sets: an ack wait, a parent pid). */
const atLeast = (env: Env, key: string, min: number): number | undefined => {
  const n = optionalInt(env, key)
  if (n !== undefined && n < min) throw new WorkerSettingsError(`${key}: expected a whole number >= ${min}, got "${env[key]}"`)
  return n
}

const optionalInt = (env: Env, key: string): number | undefined =>
  env[key] === undefined || env[key] === "" ? undefined : positiveInt(env, key)

const msList = (env: Env, key: string, fallback: ReadonlyArray<number>): ReadonlyArray<number> => {
  const raw = env[key]
  if (raw === undefined || raw.trim() === "") return fallback
  const list = raw.split(",").map((s) => Number(s.trim()))
  const bad = list.findIndex((n) => !Number.isFinite(n) || n < 0)
  if (bad >= 0) throw new WorkerSettingsError(`${key}[${bad}]: expected milliseconds >= 0, got "${raw.split(",")[bad]}"`)
  return list
}

/** `JETSCALE_BACKOFF` (JSON `{"initialMs","maxMs","factor","jitter"}`) wins over `JETSCALE_BACKOFF_MS`. */
const backoffFrom = (env: Env): BackoffSpec => {
  const raw = env.JETSCALE_BACKOFF
  if (raw === undefined || raw.trim() === "") return msList(env, "JETSCALE_BACKOFF_MS", [1000, 5000, 30000])
  let b: Partial<Record<keyof ExponentialBackoff, unknown>>
  try {
    b = JSON.parse(raw)
  } catch (e) {
    throw new WorkerSettingsError(`JETSCALE_BACKOFF: not JSON: ${(e as Error).message}`)
  }
  for (const key of ["initialMs", "maxMs", "factor", "jitter"] as const) {
    if (typeof b[key] !== "number" || !Number.isFinite(b[key]) || (b[key] as number) < 0) {
      throw new WorkerSettingsError(`JETSCALE_BACKOFF.${key}: expected a number >= 0, got ${JSON.stringify(b[key])}`)
    }
  }
  return b as ExponentialBackoff
}

/** JETSCALE_CONSUMERS, or the `consumers` override: 1 to 5 distinct names; undefined when unset. */
const consumersFrom = (env: Env, override: ReadonlyArray<string> | undefined): ReadonlyArray<string> | undefined => {
  const raw = env.JETSCALE_CONSUMERS
  const names = override ?? (raw === undefined || raw.trim() === "" ? undefined : raw.split(",").map((s) => s.trim()))
  if (names === undefined) return undefined
  const key = "JETSCALE_CONSUMERS"
  if (names.length < 1 || names.length > maxConsumers) {
    throw new WorkerSettingsError(`${key}: expected 1 to ${maxConsumers} consumer names separated by commas, got ${names.length}`)
  }
  const bad = names.findIndex((n) => !consumerNamePattern.test(n))
  if (bad >= 0) throw new WorkerSettingsError(`${key}[${bad}]: expected a consumer name of letters, digits, "_" and "-", got ${JSON.stringify(names[bad]!.slice(0, 64))}`)
  const twice = names.findIndex((n, i) => names.indexOf(n) !== i)
  if (twice >= 0) throw new WorkerSettingsError(`${key}[${twice}]: ${JSON.stringify(names[twice])} is named twice`)
  return names
}

const burstFrom = (env: Env, override: number | undefined): number => {
  const n = override ?? positiveInt(env, "JETSCALE_PRIORITY_BURST", priorityBurstBounds.fallback)
  if (!Number.isInteger(n) || n < priorityBurstBounds.min || n > priorityBurstBounds.max) {
    throw new WorkerSettingsError(`JETSCALE_PRIORITY_BURST: expected ${priorityBurstBounds.min} to ${priorityBurstBounds.max}, got ${n}`)
  }
  return n
}

const modeFrom = (env: Env): WorkerMode => {
  const raw = env.JETSCALE_MODE
  if (raw === undefined || raw.trim() === "") return "worker"
  const mode = raw.trim()
  if (mode === "worker" || mode === "job") return mode
  throw new WorkerSettingsError(`JETSCALE_MODE: expected "worker" or "job", got ${JSON.stringify(raw.slice(0, 64))}`)
}

const jobWaitFrom = (env: Env, override: number | undefined): number => {
  const ms = override ?? positiveInt(env, "JETSCALE_JOB_WAIT_MS", 30_000)
  if (!Number.isInteger(ms) || ms < jobWaitBounds.minMs || ms > jobWaitBounds.maxMs) {
    throw new WorkerSettingsError(`JETSCALE_JOB_WAIT_MS: expected ${jobWaitBounds.minMs} to ${jobWaitBounds.maxMs} ms, got ${ms}`)
  }
  return ms
}

/** Reads worker settings; `overrides` (from `runWorker` options) win over the environment. */
export const readWorkerSettings = (env: Env = process.env, overrides: Partial<WorkerSettings> = {}): WorkerSettings => {
  const queue = overrides.queue ?? env.JETSCALE_QUEUE
  if (!queue) throw new WorkerSettingsError("JETSCALE_QUEUE: required (the scaler sets it; set it yourself to run a worker by hand)")
  const concurrency = overrides.concurrency ?? positiveInt(env, "JETSCALE_CONCURRENCY", 1)
  if (concurrency < 1) throw new WorkerSettingsError(`JETSCALE_CONCURRENCY: expected >= 1, got ${concurrency}`)
  const consumers = overrides.consumers === undefined && overrides.consumer !== undefined ? [overrides.consumer]
    : consumersFrom(env, overrides.consumers) ?? [env.JETSCALE_CONSUMER ?? consumerName]
  return {
    natsUrl: overrides.natsUrl ?? env.NATS_URL ?? "nats://127.0.0.1:4222",
    credentials: overrides.credentials ?? credentialsFromEnv(env),
    queue,
    stream: overrides.stream ?? env.JETSCALE_STREAM ?? streamName(queue),
    consumer: consumers[0]!,
    consumers,
    priorityBurst: burstFrom(env, overrides.priorityBurst),
    concurrency,
    instance: overrides.instance ?? env.JETSCALE_INSTANCE ?? `${queue}-${process.pid}`,
    backoff: overrides.backoff ?? backoffFrom(env),
    ackWaitMs: overrides.ackWaitMs ?? atLeast(env, "JETSCALE_ACK_WAIT_MS", 1000),
    stopTimeoutMs: overrides.stopTimeoutMs ?? positiveInt(env, "JETSCALE_STOP_TIMEOUT_MS", 30000),
    jobTimeoutMs: overrides.jobTimeoutMs ?? optionalInt(env, "JETSCALE_JOB_TIMEOUT_MS"),
    parentPid: overrides.parentPid ?? atLeast(env, "JETSCALE_PARENT_PID", 1),
    mode: overrides.mode ?? modeFrom(env),
    jobWaitMs: jobWaitFrom(env, overrides.jobWaitMs)
  }
}
