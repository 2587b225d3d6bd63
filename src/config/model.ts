// The decoded jetscale configuration: what every other module consumes after `jetscale.yaml`
// has been read, validated and given its defaults (see ./schema.ts for the file format).
import type { Duration } from "effect"
import type { NatsCredentials, NatsEndpoint } from "../nats/credentials.ts"

export type RuntimeDriverName = "docker" | "process" | "swarm"

/** Resource limits for one worker; `memoryBytes` is parsed from strings like `256m`. */
export interface WorkerLimits {
  readonly memoryBytes?: number
  readonly cpus?: number
  readonly pids?: number
}

/** A host path bind-mounted into worker containers (docker driver only). */
export interface WorkerMount {
  readonly source: string
  readonly target: string
  readonly readOnly: boolean
}

/**
 * Retry delays: a list (attempt 1, 2, 3...; the last repeats) or exponential with jitter
 * (`initial * factor^(attempt-1)`, capped at `max`, each delay times a random 1 ± jitter).
 */
export type BackoffPolicy =
  | { readonly _tag: "list"; readonly delays: ReadonlyArray<Duration.Duration> }
  | {
    readonly _tag: "exponential"
    readonly initial: Duration.Duration
    readonly max: Duration.Duration
    readonly factor: number
    readonly jitter: number
  }

/** What a queue scales on; the decision takes the largest desired count of its signals. */
export type SignalName = "backlog" | "waitTime" | "utilization" | "rate"

/** How far one scale-up may go: at once to the desired count, at most double, or at most `n` more. */
export type StepUp = { readonly _tag: "jump" } | { readonly _tag: "double" } | { readonly _tag: "add"; readonly n: number }
/** How far one scale-down may go: one replica, half of them, or at once to the desired count. */
export type StepDown = "one" | "half" | "jump"

/** A known busy time: from each `cron` match, for `for`, the queue keeps at least `minReplicas`. */
export interface ScheduleEntry {
  /** Five fields: minute hour day-of-month month day-of-week. */
  readonly cron: string
  readonly minReplicas: number
  readonly for: Duration.Duration
  /** IANA time zone of `cron`; the scaler's `timezone` when absent. */
  readonly timezone?: string
}

/** One level of a queue with `priorities`: its subject and its consumer (highest level first). */
export interface PriorityLevel {
  readonly name: string
  readonly subject: string
  readonly consumer: string
}

/** One queue: its JetStream names, its worker, and its scaling policy. */
export interface QueueConfig {
  readonly name: string
  /** `JETSCALE_<NAME>`: upper-cased, `-` -> `_`. */
  readonly stream: string
  /** Always `workers`. */
  readonly consumer: string
  readonly subjects: ReadonlyArray<string>
  readonly image?: string
  readonly command?: ReadonlyArray<string>
  readonly env: Readonly<Record<string, string>>
  readonly minReplicas: number
  readonly maxReplicas: number
  readonly targetPending: number
  readonly activation: number
  readonly idleTimeout: Duration.Duration
  readonly scaleDownDelay: Duration.Duration
  readonly concurrency: number
  readonly ackWait: Duration.Duration
  readonly maxDeliver: number
  /**
   * Backpressure: the queue's stream holds at most this many jobs (waiting or in flight) and refuses
   * more (discard new): `enqueue`, `pub` and the job route say the queue is full. None when absent.
   */
  readonly maxBacklog?: number
  /** The queue's stream replication on a NATS cluster: 1, 3 or 5. */
  readonly replicas: number
  /** NAK delay per attempt. A list is never empty. */
  readonly backoff: BackoffPolicy
  /** Grace for a worker that jetscale shuts down (`down`, a queue removed); never applied on scale-in. */
  readonly stopTimeout: Duration.Duration
  /** Longest run of one job; past it the job fails with `job timed out after <jobTimeout>`. None when absent. */
  readonly jobTimeout?: Duration.Duration
  readonly limits: WorkerLimits
  /** Privileged worker containers; refused unless `runtime.docker.allowPrivileged`. */
  readonly privileged: boolean
  /**
   * What a scale-in does to a replica: `stop` drains and removes it; `suspend` cordons it (no new
   * pulls, its jobs finish) and freezes it, to be thawed by the next wake.
   */
  readonly idle: "stop" | "suspend"
  /** Host mounts of worker containers; none unless configured. */
  readonly mounts: ReadonlyArray<WorkerMount>
  /** Signals the queue scales on (default `[backlog]`). */
  readonly signals: ReadonlyArray<SignalName>
  /** `waitTime` signal: the oldest waiting job's age to stay under. */
  readonly targetWait: Duration.Duration
  /** `utilization` signal: scale out above this share of busy slots, in below `scaleDownAt`. */
  readonly scaleUpAt: number
  readonly scaleDownAt: number
  /** EWMA half-life over the signals; none when absent. */
  readonly smoothing?: Duration.Duration
  readonly step: { readonly up: StepUp; readonly down: StepDown }
  /** Share of `scaler.maxReplicas`: higher priorities are granted first. */
  readonly priority: number
  readonly schedule: ReadonlyArray<ScheduleEntry>
  /**
   * `priorities`: one subject and consumer per level, highest first; workers take from the highest
   * level with work, lower ones still progress. Empty without priorities (one consumer, `consumer`).
   */
  readonly levels: ReadonlyArray<PriorityLevel>
  /** `worker`: long-lived replicas pull jobs; `job`: one container or process per job, gone when it ends. */
  readonly mode: "worker" | "job"
  /** Swarm driver: where the queue's workers may run (Swarm constraint and `spread=` preference expressions). */
  readonly placement: { readonly constraints: ReadonlyArray<string>; readonly preferences: ReadonlyArray<string> }
}

/**
 * Where NATS is and as whom to connect: the scaler and CLI with `credentials`, the workers it
 * starts with `workerCredentials` (never the scaler's own). Passwords come from the environment.
 */
export interface NatsSettings extends NatsEndpoint {
  readonly workerCredentials?: NatsCredentials
}

export interface JetscaleConfig {
  readonly nats: NatsSettings
  readonly runtime: {
    readonly driver: RuntimeDriverName
    readonly docker: { readonly network: string; readonly socketPath?: string; readonly allowPrivileged: boolean }
  }
  /**
   * The deployment this config is (default `default`): its containers carry it as a label, its
   * advisories have a stream of their own, its status requests a subject of their own; two
   * deployments on one NATS server and Docker host never touch each other's.
   */
  readonly deployment: string
  /** `lease`: the leader's lease when several scalers run the same config (high availability). */
  /** `maxReplicas`: the budget shared by all queues (none when absent); `timezone`: of schedules (IANA, default UTC). */
  readonly scaler: {
    readonly interval: Duration.Duration
    readonly lease: Duration.Duration
    readonly maxReplicas?: number
    readonly timezone: string
  }
  /** `token`: when set (or JETSCALE_ADMIN_TOKEN), the admin API wants `Authorization: Bearer <token>`. */
  /** `submitToken`: when set, `POST /api/queues/<name>/jobs` takes it (or the admin token) instead. */
  readonly admin: { readonly listen: string; readonly token?: string; readonly submitToken?: string }
  /**
   * Worker output kept in the stream JETSCALE_LOGS for `maxAge` and up to `maxBytes` (oldest lines
   * go first); at most `linesPerSecond` lines per worker instance, the rest dropped and counted.
   */
  readonly logs: { readonly maxAge: Duration.Duration; readonly maxBytes: number; readonly linesPerSecond: number }
  /** JETSCALE_DLQ holds up to `maxBytes`; a full DLQ refuses new dead letters (their jobs stay queued). */
  readonly dlq: { readonly maxBytes: number }
  /** Replication of jetscale's own streams and KV buckets (DLQ, advisories, logs, errors, leases). */
  readonly jetstream: { readonly replicas: number }
  readonly queues: ReadonlyArray<QueueConfig>
}
