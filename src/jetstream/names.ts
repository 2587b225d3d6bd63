// The public JetStream and NATS names jetscale uses; other tools rely on them.

/** `demo-jobs` -> `JETSCALE_DEMO_JOBS`. */
export const streamName = (queue: string): string => `JETSCALE_${queue.toUpperCase().replaceAll("-", "_")}`

/** The one durable pull consumer every queue's workers share. */
export const consumerName = "workers"

/** A queue with `priorities` has a subject and a consumer per level: `jobs.<queue>.<level>`, `workers-<level>`. */
export const levelSubject = (queue: string, level: string): string => `jobs.${queue}.${level}`
export const levelConsumerName = (level: string): string => `${consumerName}-${level}`

/** Scale decisions are published here as JSON. */
export const scaleEventSubject = (queue: string): string => `jetscale.events.scale.${queue}`

/** Each live reload of the config, applied or refused, is published here as JSON. */
export const configEventSubject = "jetscale.events.config"

/** Each change of a scaler's role (leader, standby) is published here as JSON. */
export const leaderEventSubject = "jetscale.events.leader"

/** The KV bucket of the scalers' leases: one key per deployment, held by its leader. */
export const leasesBucket = "jetscale_leases"
export const leaseKey = (deployment: string): string => `scaler.${deployment}`

/** Labels on every worker container; jetscale never touches containers without them. */
export const labels = {
  managed: "io.jetscale.managed",
  queue: "io.jetscale.queue",
  instance: "io.jetscale.instance",
  /** Absent on containers of jetscale before deployments: those are `default`'s. */
  deployment: "io.jetscale.deployment"
} as const

/** The deployment of a config without `deployment:`; its names are the ones jetscale always used. */
export const defaultDeployment = "default"

/** `jetscale-<queue>-<instance>`, with the deployment after `jetscale-` unless it is the default one. */
export const containerName = (deployment: string, queue: string, instance: string): string =>
  deployment === defaultDeployment ? `jetscale-${queue}-${instance}` : `jetscale-${deployment}-${queue}-${instance}`

/** Request-reply subject the CLI's `status` asks for a deployment's scaler view. */
export const statusSubjectOf = (deployment: string): string =>
  deployment === defaultDeployment ? "jetscale.api.status" : `jetscale.api.status.${deployment}`

/** Dead letters of every queue, on `jetscale.dlq.<queue>`. */
export const dlqStream = "JETSCALE_DLQ"
export const dlqSubject = (queue: string): string => `jetscale.dlq.${queue}`

/** Captures the MAX_DELIVERIES advisories of the managed streams, so none is lost while the scaler is down. */
export const advisoriesStream = "JETSCALE_ADVISORIES"
/** Each deployment's advisories have a stream of their own (`JETSCALE_ADVISORIES_<DEPLOYMENT>`; the default one's is JETSCALE_ADVISORIES). */
export const advisoriesStreamOf = (deployment: string): string =>
  deployment === defaultDeployment ? advisoriesStream : `${advisoriesStream}_${deployment.toUpperCase().replaceAll("-", "_")}`
export const advisoriesConsumer = "dlq"
export const maxDeliveriesSubject = (stream: string, consumer: string): string =>
  `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${consumer}`

/** Last error of each failed attempt, keyed by `<stream>.<seq>`, kept for a while (TTL). */
export const errorsBucket = "jetscale_errors"
export const errorKey = (stream: string, seq: number): string => `${stream}.${seq}`

/** Worker output of every queue: one core publish per line on `jetscale.logs.<queue>.<instance>` is the live feed, and this stream keeps it. */
export const logsStream = "JETSCALE_LOGS"
export const logsSubjects = "jetscale.logs.>"
/** A subject token can't hold `.`, `*`, `>` or whitespace; such characters become `_`. */
const logToken = (s: string): string => s.replace(/[.*>\s]/g, "_") || "_"
export const logsSubject = (queue: string, instance: string): string => `jetscale.logs.${logToken(queue)}.${logToken(instance)}`
/** The lines of one queue, or of one of its instances. */
export const logsFilter = (queue: string, instance?: string): string =>
  `jetscale.logs.${logToken(queue)}.${instance === undefined ? "*" : logToken(instance)}`
/** Header of each log message: `stdout` or `stderr`. The body is the line itself, the time is the stream's. */
export const logStreamHeader = "Jetscale-Stream"

/** Each worker reports each finished job here (`{"outcome","seconds"}`); the scaler's /metrics counts them. */
export const jobReportSubject = (queue: string): string => `jetscale.metrics.jobs.${queue}`

/**
 * Each worker says what it is doing here (`{"instance","state","inFlight"}`, state `running` or
 * `draining`) every second and on every change; the scaler drains idle replicas first and adopts
 * draining ones as draining after a restart.
 */
export const workerStateSubject = (queue: string, instance: string): string => `jetscale.workers.${queue}.${logToken(instance)}`
/** A worker takes commands from the scaler here (request-reply: `drain` -> `ok`), wherever it runs. */
export const workerControlSubject = (queue: string, instance: string): string => `jetscale.control.${queue}.${logToken(instance)}`
export const workerStatesFilter = "jetscale.workers.>"

/**
 * Delayed jobs wait here, outside every work queue, on `jetscale.delayed.<queue>` with the header
 * `Jetscale-Not-Before` (RFC 3339); the scaler moves each one into its queue's stream when due.
 */
export const delayedStream = "JETSCALE_DELAYED"
export const delayedSubject = (queue: string): string => `jetscale.delayed.${queue}`
export const delayedSubjects = "jetscale.delayed.>"
/** Header of a job that must not run before a time (RFC 3339, or ms since the epoch). */
export const notBeforeHeader = "Jetscale-Not-Before"
