// The environment the scaler gives every worker it starts (the worker SDK reads it).
import { Duration } from "effect"
import type { BackoffPolicy, QueueConfig } from "../config/model.ts"
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

/** A queue's `env` cannot override what jetscale sets: the NATS endpoint, the worker credentials, the queue's names. */
export const workerEnv = (q: QueueConfig, instance: string, nats: NatsEndpoint, scalerEnv = process.env): Record<string, string> => ({
  ...passThrough(scalerEnv),
  ...q.env,
  NATS_URL: nats.url,
  ...credentialEnv(nats.credentials),
  JETSCALE_QUEUE: q.name,
  JETSCALE_STREAM: q.stream,
  JETSCALE_CONSUMER: q.consumer,
  JETSCALE_CONCURRENCY: String(q.concurrency),
  JETSCALE_INSTANCE: instance,
  JETSCALE_ACK_WAIT_MS: String(Duration.toMillis(q.ackWait)),
  ...backoffEnv(q.backoff),
  JETSCALE_STOP_TIMEOUT_MS: String(Duration.toMillis(q.stopTimeout)),
  ...(q.jobTimeout ? { JETSCALE_JOB_TIMEOUT_MS: String(Duration.toMillis(q.jobTimeout)) } : {})
})
