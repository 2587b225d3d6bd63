// The environment the scaler gives every worker it starts (the worker SDK reads it).
import { Duration } from "effect"
import type { BackoffPolicy, QueueConfig } from "../config/model.ts"
import { consumersOf } from "../jetstream/consumers.ts"
import { credentialEnv, type NatsEndpoint } from "../nats/credentials.ts"

/** The scaler's own identity stays its own: workers name themselves `jetscale-worker-<queue>`. */
const notPassed = new Set(["OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES"])

/** Tracing settings passed through to workers from the scaler's own environment. */
const passThrough = (env: Readonly<Record<string, string | undefined>>) =>
  Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[0].startsWith("OTEL_") && !notPassed.has(e[0]) && e[1] !== undefined))

const backoffEnv = (b: BackoffPolicy): Record<string, string> =>
  b._tag === "list"
    ? { JETSCALE_BACKOFF_MS: b.delays.map((d) => Duration.toMillis(d)).join(",") }
    : { JETSCALE_BACKOFF: JSON.stringify({ initialMs: Duration.toMillis(b.initial), maxMs: Duration.toMillis(b.max), factor: b.factor, jitter: b.jitter }) }

/** The wait of a job-mode worker with no job yet can't be shorter than this, nor longer than an hour (the SDK's bounds). */
const jobWaitFloorMs = 30_000
const jobWaitCeilingMs = 3_600_000
/** Past a retry's delay or a redelivery, the margin a waiting job-mode worker still gives it. */
const jobWaitMarginMs = 5_000

/** The longest NAK delay of the queue's backoff (with its jitter). */
const longestRetryDelayMs = (b: BackoffPolicy): number =>
  b._tag === "list" ? Math.max(0, ...b.delays.map((d) => Duration.toMillis(d))) : Duration.toMillis(b.max) * (1 + b.jitter)

/**
 * `mode: job`: how long a job worker waits for its job. Long enough for a retry in its NAK delay or
 * a crashed worker's job (redelivered after ackWait) to reach the one worker the scaler keeps
 * waiting for it, so that it is not replaced every 30 s meanwhile. A queue's `env` may set it.
 */
export const jobWaitMs = (q: Pick<QueueConfig, "backoff" | "ackWait">): number =>
  Math.round(Math.min(jobWaitCeilingMs, Math.max(jobWaitFloorMs, Math.max(longestRetryDelayMs(q.backoff), Duration.toMillis(q.ackWait)) + jobWaitMarginMs)))

/** A queue's `env` cannot override what jetscale sets: the NATS endpoint, the worker credentials, the queue's names, its mode. */
export const workerEnv = (q: QueueConfig, instance: string, nats: NatsEndpoint, scalerEnv = process.env): Record<string, string> => ({
  ...passThrough(scalerEnv),
  ...(q.mode === "job" ? { JETSCALE_JOB_WAIT_MS: String(jobWaitMs(q)) } : {}),
  ...q.env,
  NATS_URL: nats.url,
  ...credentialEnv(nats.credentials),
  JETSCALE_QUEUE: q.name,
  JETSCALE_STREAM: q.stream,
  // With priorities: every level's consumer, highest first (an SDK without levels takes the first).
  JETSCALE_CONSUMER: consumersOf(q)[0]!.name,
  ...(q.levels.length > 0 ? { JETSCALE_CONSUMERS: consumersOf(q).map((c) => c.name).join(",") } : {}),
  JETSCALE_CONCURRENCY: String(q.concurrency),
  JETSCALE_INSTANCE: instance,
  // `job`: the worker takes one job, runs it and exits (set for `worker` too: a queue's env can't switch it).
  JETSCALE_MODE: q.mode === "job" ? "job" : "worker",
  JETSCALE_ACK_WAIT_MS: String(Duration.toMillis(q.ackWait)),
  ...backoffEnv(q.backoff),
  JETSCALE_STOP_TIMEOUT_MS: String(Duration.toMillis(q.stopTimeout)),
  ...(q.jobTimeout ? { JETSCALE_JOB_TIMEOUT_MS: String(Duration.toMillis(q.jobTimeout)) } : {})
})
