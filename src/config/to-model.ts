// The decoded `jetscale.yaml` (./schema.ts) mapped onto the model (./model.ts) that every other
// module consumes: names derived (stream, consumer, levels), optional keys left out when absent.
import type { BackoffPolicy, JetscaleConfig, PriorityLevel, QueueConfig } from "./model.ts"
import { type ConfigFile, defaultSubjects, parseStepUp, type QueueFile, toMount } from "./schema.ts"
import { consumerName, levelConsumerName, levelSubject, streamName } from "../jetstream/names.ts"

/** The levels of a queue with `priorities`, highest first. */
export const toLevels = (queue: string, priorities: ReadonlyArray<string> | undefined): ReadonlyArray<PriorityLevel> =>
  (priorities ?? []).map((name) => ({ name, subject: levelSubject(queue, name), consumer: levelConsumerName(name) }))

/** The model's backoff policy from the decoded `backoff` field. */
export const toBackoffPolicy = (b: QueueFile["backoff"]): BackoffPolicy =>
  "initial" in b
    ? { _tag: "exponential", initial: b.initial, max: b.max, factor: b.factor, jitter: b.jitter }
    : { _tag: "list", delays: b }

/** One queue of the model, from its name and its decoded entry. */
export const toQueueConfig = (name: string, q: QueueFile) => ({
  name,
  stream: streamName(name),
  consumer: consumerName,
  subjects: q.priorities ? toLevels(name, q.priorities).map((l) => l.subject) : q.subjects ?? defaultSubjects(name),
  levels: toLevels(name, q.priorities),
  ...(q.image === undefined ? {} : { image: q.image }),
  ...(q.command === undefined ? {} : { command: q.command }),
  env: q.env,
  minReplicas: q.minReplicas,
  maxReplicas: q.maxReplicas,
  targetPending: q.targetPending,
  activation: q.activation,
  idleTimeout: q.idleTimeout,
  scaleDownDelay: q.scaleDownDelay,
  concurrency: q.concurrency,
  ackWait: q.ackWait,
  maxDeliver: q.maxDeliver,
  ...(q.maxBacklog === undefined ? {} : { maxBacklog: q.maxBacklog }),
  replicas: q.replicas,
  backoff: toBackoffPolicy(q.backoff),
  stopTimeout: q.stopTimeout,
  ...(q.jobTimeout === undefined ? {} : { jobTimeout: q.jobTimeout }),
  limits: {
    ...(q.limits.memory === undefined ? {} : { memoryBytes: q.limits.memory }),
    ...(q.limits.cpus === undefined ? {} : { cpus: q.limits.cpus }),
    ...(q.limits.pids === undefined ? {} : { pids: q.limits.pids })
  },
  privileged: q.privileged,
  idle: q.idle,
  mounts: q.mounts.map(toMount),
  placement: { constraints: q.placement.constraints, preferences: q.placement.preferences },
  signals: q.signals,
  targetWait: q.targetWait,
  scaleUpAt: q.scaleUpAt,
  scaleDownAt: q.scaleDownAt,
  ...(q.smoothing === undefined ? {} : { smoothing: q.smoothing }),
  step: { up: parseStepUp(q.step.up)!, down: q.step.down },
  priority: q.priority,
  schedule: q.schedule.map((e) => ({ cron: e.cron, minReplicas: e.minReplicas, for: e.for, ...(e.timezone === undefined ? {} : { timezone: e.timezone }) })),
  mode: q.mode
})

/**
 * The model from a decoded file. `order` is the queue names in file order (decoding does not
 * promise to keep key order); names missing from it follow in record order.
 */
export const toModel = (file: ConfigFile, order: ReadonlyArray<string> = []) => {
  const names = [...new Set([...order.filter((n) => Object.hasOwn(file.queues, n)), ...Object.keys(file.queues)])]
  return {
    nats: { url: typeof file.nats.url === "string" ? file.nats.url : file.nats.url.join(",") },
    runtime: {
      driver: file.runtime.driver,
      docker: {
        network: file.runtime.docker.network,
        allowPrivileged: file.runtime.docker.allowPrivileged,
        ...(file.runtime.docker.socketPath === undefined ? {} : { socketPath: file.runtime.docker.socketPath })
      }
    },
    deployment: file.deployment,
    scaler: {
      interval: file.scaler.interval,
      lease: file.scaler.lease,
      timezone: file.scaler.timezone,
      ...(file.scaler.maxReplicas === undefined ? {} : { maxReplicas: file.scaler.maxReplicas })
    },
    admin: {
      listen: file.admin.listen,
      ...(file.admin.token === undefined ? {} : { token: file.admin.token }),
      ...(file.admin.submitToken === undefined ? {} : { submitToken: file.admin.submitToken })
    },
    logs: { maxAge: file.logs.maxAge, maxBytes: file.logs.maxBytes, linesPerSecond: file.logs.linesPerSecond },
    dlq: { maxBytes: file.dlq.maxBytes },
    jetstream: { replicas: file.jetstream.replicas },
    queues: names.map((name) => toQueueConfig(name, file.queues[name]!))
  }
}

// Compile-time checks: the decoded shapes must be assignable to the model.
type Assignable<A, B> = [A] extends [B] ? true : false
const modelChecks: readonly [
  Assignable<ReturnType<typeof toQueueConfig>, QueueConfig>,
  Assignable<ReturnType<typeof toModel>, JetscaleConfig>,
  Assignable<ConfigFile["runtime"], JetscaleConfig["runtime"]>
] = [true, true, true]
void modelChecks
