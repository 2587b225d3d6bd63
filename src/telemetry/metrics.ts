// The scaler's Prometheus metrics, as Effect `Metric`s: every update lands in Effect's default metric
// registry, and the admin API's `GET /metrics` renders that registry (PrometheusMetrics.layerHttp).
// Names follow Prometheus conventions: base units (seconds), `_total` on counters, labels as Metric
// attributes (`queue`, `state`, `direction`, `reason`, `outcome`). A series shows up once it has
// been updated; `registerQueue` creates a queue's counters at 0 so `rate()` works from the start.
// All of it goes to the registry in the current context (Metric.MetricRegistry, one shared Map by
// default), so the recording fibers and the /metrics handler must not provide different ones.
import { Effect, Metric } from "effect"
import { jobDurationBuckets, type JobOutcome, type JobReportEntry } from "./job-report.ts"

/** Cold starts: 50 ms (a process worker) .. 30 s (an image pull). */
export const coldStartBuckets: ReadonlyArray<number> = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export const queueBacklog = Metric.gauge("jetscale_queue_backlog", {
  description: "Messages waiting or in flight in the queue's consumer (num_pending + num_ack_pending)"
})
export const queueAckPending = Metric.gauge("jetscale_queue_ack_pending", {
  description: "Messages delivered to a worker and not yet acknowledged (num_ack_pending)"
})
export const replicas = Metric.gauge("jetscale_replicas", {
  description: "Worker replicas of the queue: state=desired (the decision), running, draining (scale-in, finishing their jobs), or suspended (idle: suspend, frozen or being frozen)"
})
export const scaleEvents = Metric.counter("jetscale_scale_events_total", {
  description: "Scale decisions that changed the replica count, by direction (up, down)",
  incremental: true
})
export const coldStartSeconds = Metric.histogram("jetscale_cold_start_seconds", {
  description: "Time from the first message at zero replicas to its acknowledgement, in seconds",
  boundaries: coldStartBuckets
})
export const dlqMessages = Metric.counter("jetscale_dlq_messages_total", {
  description: "Jobs moved to the dead-letter queue, by reason (max_deliveries, invalid_payload, rejected)",
  incremental: true
})
export const workerCrashes = Metric.counter("jetscale_worker_crashes_total", {
  description: "Workers that exited without being asked to, or failed to start",
  incremental: true
})
export const reconcileErrors = Metric.counter("jetscale_reconcile_errors_total", {
  description: "Reconcile steps of the queue that failed or died (the next tick runs as usual)",
  incremental: true
})
export const jobs = Metric.counter("jetscale_jobs_total", {
  description: "Jobs handled by workers, by outcome (succeeded, failed, dead_lettered)",
  incremental: true
})
export const jobDurationSeconds = Metric.histogram("jetscale_job_duration_seconds", {
  description: "Run time of a job's handler, in seconds",
  boundaries: jobDurationBuckets
})

export const logLinesDropped = Metric.counter("jetscale_log_lines_dropped_total", {
  description: "Worker log lines dropped instead of published, by reason (rate_limited: over logs.linesPerSecond; publish_failed: NATS would not take them)",
  incremental: true
})

export const jobsRefused = Metric.counter("jetscale_jobs_refused_total", {
  description: "Jobs the scaler's job route could not enqueue because the queue was full (maxBacklog)",
  incremental: true
})

export type ScaleDirection = "up" | "down"
export type { JobOutcome }
/** The `Jetscale-Reason` values of the dead-letter queue. */
export type DeadLetterReason = "max_deliveries" | "invalid_payload" | "rejected"

export interface QueueSample {
  /** null when the backlog could not be read: the backlog gauges keep their last value. */
  readonly pending: number | null
  readonly ackPending: number | null
  readonly desired: number
  readonly running: number
  /** Replicas draining after a scale-in. */
  readonly draining: number
  /** Replicas suspended or being suspended (`idle: suspend`). */
  readonly suspended: number
}

/** The queue's gauges, after each reconcile. */
export const recordQueue = (queue: string, sample: QueueSample): Effect.Effect<void> =>
  Effect.gen(function*() {
    if (sample.pending !== null && sample.ackPending !== null) {
      yield* Metric.update(Metric.withAttributes(queueBacklog, { queue }), sample.pending + sample.ackPending)
    }
    if (sample.ackPending !== null) yield* Metric.update(Metric.withAttributes(queueAckPending, { queue }), sample.ackPending)
    yield* Metric.update(Metric.withAttributes(replicas, { queue, state: "desired" }), sample.desired)
    yield* Metric.update(Metric.withAttributes(replicas, { queue, state: "running" }), sample.running)
    yield* Metric.update(Metric.withAttributes(replicas, { queue, state: "draining" }), sample.draining)
    yield* Metric.update(Metric.withAttributes(replicas, { queue, state: "suspended" }), sample.suspended)
  })

/** One decision that changed the replica count. */
export const recordScaleEvent = (queue: string, direction: ScaleDirection): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(scaleEvents, { queue, direction }), 1)

/** First message at zero replicas -> its ack, in seconds. */
export const recordColdStart = (queue: string, seconds: number): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(coldStartSeconds, { queue }), seconds)

export const recordDeadLetter = (queue: string, reason: DeadLetterReason | (string & {})): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(dlqMessages, { queue, reason }), 1)

/** A reconcile step that failed or died. */
export const scalerLeader = Metric.gauge("jetscale_scaler_leader", {
  description: "1 while this scaler leads its deployment (it scales), 0 while it is a standby (it only serves status, metrics and readiness)"
})
export const leadershipChanges = Metric.counter("jetscale_leadership_changes_total", {
  description: "Times this scaler became leader or standby of its deployment, by role",
  incremental: true
})

/** This scaler's role, without counting a change (its start). */
export const recordRole = (deployment: string, role: "leader" | "standby"): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(scalerLeader, { deployment }), role === "leader" ? 1 : 0)

/** This scaler's role changed. */
export const recordLeadership = (deployment: string, role: "leader" | "standby"): Effect.Effect<void> =>
  Effect.andThen(recordRole(deployment, role), Metric.update(Metric.withAttributes(leadershipChanges, { deployment, role }), 1))

export const recordReconcileError = (queue: string): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(reconcileErrors, { queue }), 1)

export const recordWorkerCrash = (queue: string): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(workerCrashes, { queue }), 1)

/**
 * Jobs a worker finished, as its report counts them (see ./job-report.ts): each entry's jobs land
 * in its bucket of the histogram at the entry's mean run time, so counts, buckets and sum are exact.
 */
export const recordJobs = (queue: string, entry: JobReportEntry): Effect.Effect<void> =>
  Effect.gen(function*() {
    yield* Metric.update(Metric.withAttributes(jobs, { queue, outcome: entry.outcome }), entry.count)
    const duration = Metric.withAttributes(jobDurationSeconds, { queue })
    const mean = entry.seconds / entry.count
    for (let i = 0; i < entry.count; i++) yield* Metric.update(duration, mean)
    if (entry.outcome === "dead_lettered" && entry.reason !== undefined) {
      yield* Metric.update(Metric.withAttributes(dlqMessages, { queue, reason: entry.reason }), entry.count)
    }
  })

/**
 * Creates a queue's counters at zero (scale events up/down, worker crashes), so they are scraped
 * before the first event and `rate()`/`increase()` see the first increment. Idempotent.
 */
export const registerQueue = (queue: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    yield* Metric.update(Metric.withAttributes(scaleEvents, { queue, direction: "up" }), 0)
    yield* Metric.update(Metric.withAttributes(scaleEvents, { queue, direction: "down" }), 0)
    yield* Metric.update(Metric.withAttributes(workerCrashes, { queue }), 0)
    yield* Metric.update(Metric.withAttributes(reconcileErrors, { queue }), 0)
  })

/** Worker log lines the scaler did not publish: `rate_limited` (over logs.linesPerSecond) or `publish_failed`. */
export const recordLogLinesDropped = (queue: string, reason: string, count: number): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(logLinesDropped, { queue, reason }), count)

/** Jobs refused by a full queue (maxBacklog) on the admin API's job route. */
export const recordJobsRefused = (queue: string, count: number): Effect.Effect<void> =>
  Metric.update(Metric.withAttributes(jobsRefused, { queue }), count)
