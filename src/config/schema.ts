// The Effect Schema of `jetscale.yaml` (field names, types, defaults, per-field rules). Rules across
// fields: ./cross-field.ts; the decoded file mapped onto ./model.ts: ./to-model.ts.
import { Duration, Effect, Schema, SchemaTransformation } from "effect"
import { ByteSize, formatByteSize, isDurationAtLeast, isDurationPositive, parseByteSize, ShortDuration } from "./duration.ts"
import { subjectProblem } from "./subjects.ts"
import type { StepUp, WorkerMount } from "./model.ts"
import { parseCron, timezoneProblem } from "../scaler/schedule.ts"
import { advisoriesStream, delayedStream, dlqStream } from "../jetstream/names.ts"

/** Every default of the file format, in one place (the cross-field checks reuse them). */
export const DEFAULTS = {
  natsUrl: "nats://127.0.0.1:4222",
  driver: "docker",
  dockerNetwork: "host",
  interval: "1s",
  adminListen: "127.0.0.1:9464",
  deployment: "default",
  logsMaxAge: "24h",
  logsMaxBytes: "1g",
  logsLinesPerSecond: 100,
  dlqMaxBytes: "1g",
  minReplicas: 0,
  maxReplicas: 5,
  targetPending: 10,
  activation: 1,
  idleTimeout: "30s",
  scaleDownDelay: "10s",
  concurrency: 4,
  ackWait: "30s",
  maxDeliver: 5,
  backoff: ["1s", "5s", "30s"],
  /** Defaults of the exponential form `backoff: { initial, max, factor, jitter }`. */
  backoffMax: "1m",
  backoffFactor: 2,
  backoffJitter: 0.2,
  stopTimeout: "30s",
  replicas: 1,
  lease: "10s",
  timezone: "UTC",
  signals: ["backlog"],
  targetWait: "10s",
  scaleUpAt: 0.8,
  scaleDownAt: 0.2,
  stepUp: "jump",
  stepDown: "half",
  priority: 0,
  mode: "worker"
} as const

export const QUEUE_NAME_PATTERN = /^[a-z0-9][a-z0-9-]*$/

/** A deployment name: like a queue name, at most 32 characters. */
const DeploymentName = Schema.String.pipe(Schema.check(Schema.makeFilter<string>((s) =>
  (s.length <= 32 && QUEUE_NAME_PATTERN.test(s)) || `expected a name matching [a-z0-9][a-z0-9-]* of at most 32 characters, got ${JSON.stringify(s)}`
)))

/**
 * Streams jetscale keeps for itself, which no queue may map to (by `streamName`). Valid queue
 * names (the pattern above: no `_`, no upper case) map to stream names one-to-one, so two queues
 * can never share a stream; only these reserved names need checking.
 */
export const RESERVED_STREAMS: ReadonlyArray<string> = [dlqStream, advisoriesStream, "JETSCALE_LOGS", delayedStream]

/** The subjects a queue listens on when `subjects` is omitted. */
export const defaultSubjects = (queue: string): ReadonlyArray<string> => [`jobs.${queue}`]

// ---- building blocks ------------------------------------------------------------------------

/**
 * Default for an absent key, given in file form (`"30s"`, `{}`). It is decoded with the field's
 * schema and supplied on the decoded side: an encoded-side default would make Schema check the
 * whole subtree's raw types first and drop the transformation errors (`invalid duration`) inside.
 */
const withDefault = <S extends Schema.Codec<unknown, unknown>>(value: S["Encoded"]) => (self: S) =>
  self.pipe(Schema.withDecodingDefaultTypeKey(Effect.sync(() => Schema.decodeUnknownSync(self)(value))))

/** An integer >= `min`; the message carries the bound and the offending value. */
const IntAtLeast = (min: number) =>
  Schema.Number.annotate({ expected: `an integer >= ${min}` }).pipe(Schema.check(Schema.makeFilter<number>((n) =>
    (Number.isSafeInteger(n) && n >= min) || `expected an integer >= ${min}, got ${n}`
  )))

const AnyInt = Schema.Number.annotate({ expected: "an integer" }).pipe(Schema.check(Schema.makeFilter<number>((n) =>
  Number.isSafeInteger(n) || `expected an integer, got ${n}`
)))

const NonEmptyString = Schema.String.pipe(Schema.check(Schema.makeFilter<string>((s) =>
  s.trim().length > 0 || "expected a non-empty string"
)))

const Subject = Schema.String.pipe(Schema.check(Schema.makeFilter<string>((s) => {
  const problem = subjectProblem(s)
  return problem === undefined || `invalid NATS subject ${JSON.stringify(s)} (${problem})`
})))

const HostPort = Schema.String.pipe(Schema.check(Schema.makeFilter<string>((s) => {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s)
  return (m !== null && Number(m[2]) <= 65535) || `expected host:port (e.g. 127.0.0.1:9464), got ${JSON.stringify(s)}`
})))

const nonEmptyList = (what: string) =>
  Schema.makeFilter<ReadonlyArray<unknown>>((xs) => xs.length > 0 || `expected a non-empty list of ${what}`)

/** Why `s` is not a NATS server URL (`nats://host:4222`, `tls://…`, `host:4222`), or undefined. */
export const natsServerProblem = (s: string): string | undefined =>
  /^(?:(?:nats|tls|ws|wss):\/\/)?(?:[^\s@/,]+@)?(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?\/?$/.test(s.trim())
    ? undefined
    : `expected a NATS server URL such as nats://127.0.0.1:4222, got ${JSON.stringify(s)}`

/** One server of `nats.url`. */
const NatsServer = Schema.String.pipe(Schema.check(Schema.makeFilter<string>((s) => natsServerProblem(s) ?? true)))

/** `nats.url` as a string: one server, or several separated by commas. */
const NatsServers = Schema.String.pipe(Schema.check(Schema.makeFilter<string>((s) => {
  const servers = s.split(",")
  return servers.map(natsServerProblem).find((p) => p !== undefined) ?? true
})))

/** `nats.url` as a list: a cluster's servers. */
const NatsServerList = Schema.Array(NatsServer).pipe(Schema.check(nonEmptyList("NATS server URLs")))

/** A Swarm placement preference: `spread=<node attribute>`, the only kind Swarm has. */
const SpreadPreference = Schema.String.pipe(Schema.check(Schema.makeFilter<string>((s) =>
  /^spread=\S+$/.test(s) || `expected spread=<node attribute> (e.g. spread=node.labels.zone), got ${JSON.stringify(s)}`
)))

/** A stream's replica count on a NATS cluster: JetStream takes an odd count, at most 5. */
const StreamReplicas = Schema.Number.annotate({ expected: "1, 3 or 5" }).pipe(Schema.check(Schema.makeFilter<number>((n) =>
  n === 1 || n === 3 || n === 5 || `expected 1, 3 or 5, got ${n}`
)))

/**
 * Environment values: strings as written. YAML numbers and booleans are accepted and turned into
 * strings with `String(v)` (`8080` -> "8080", `true` -> "true"); YAML normalizes numbers first
 * (`1.10` -> "1.1", `0x1F` -> "31"), so quote a value when its exact text matters.
 */
const EnvValue = Schema.Union([Schema.String, Schema.Number, Schema.Boolean])
  .annotate({ expected: "a string" })
  .pipe(Schema.decodeTo(Schema.String, SchemaTransformation.transform({ decode: (v) => String(v), encode: (s) => s })))

const Duration1s = Duration.seconds(1)

/** The smallest stream limit: one message of NATS's default max_payload (1 MiB) must fit. */
const minStreamBytes = parseByteSize("1m")!

/** A stream's `max_bytes`: a size of at least 1m. */
const StreamBytes = ByteSize.pipe(Schema.check(Schema.makeFilter<number>((n) =>
  n >= minStreamBytes || `expected a size >= ${formatByteSize(minStreamBytes)}, got ${formatByteSize(n)}`
)))

const MOUNT_PATTERN = /^(\/[^:]*):(\/[^:]*?)(?::(ro|rw))?$/
const DOCKER_SOCKETS = ["/var/run/docker.sock", "/run/docker.sock"]

/** `/host/path:/container/path[:ro|:rw]`, absolute paths, read-only unless `:rw`; never the Docker socket. */
const MountSpec = Schema.String.annotate({ expected: "a mount" }).pipe(Schema.check(Schema.makeFilter<string>((s) => {
  const m = MOUNT_PATTERN.exec(s)
  if (!m) return `expected "/host/path:/container/path" with absolute paths, optionally ":ro" or ":rw", got ${JSON.stringify(s)}`
  if (DOCKER_SOCKETS.includes(m[1]!)) return "the Docker socket would give a worker the whole host: refused"
  return true
})))

/** A mount of the model from its checked text. */
export const toMount = (spec: string): WorkerMount => {
  const m = MOUNT_PATTERN.exec(spec)!
  return { source: m[1]!, target: m[2]!, readOnly: m[3] !== "rw" }
}

/** A finite number checked by `ok`; `expected` is the whole "expected ..." phrase. */
const NumberWhere = (expected: string, ok: (n: number) => boolean) =>
  Schema.Number.annotate({ expected }).pipe(Schema.check(Schema.makeFilter<number>((n) =>
    (Number.isFinite(n) && ok(n)) || `expected ${expected}, got ${n}`
  )))

/**
 * `backoff: { initial, max, factor, jitter }`: exponential with jitter. `max >= initial` needs
 * both fields (and knows whether `max` was defaulted): see crossFieldProblems.
 */
export const ExponentialBackoffFile = Schema.Struct({
  initial: ShortDuration.pipe(Schema.check(isDurationPositive)),
  max: ShortDuration.pipe(withDefault(DEFAULTS.backoffMax)),
  factor: NumberWhere("a number >= 1", (n) => n >= 1).pipe(withDefault(DEFAULTS.backoffFactor)),
  jitter: NumberWhere("a number in [0, 1)", (n) => n >= 0 && n < 1).pipe(withDefault(DEFAULTS.backoffJitter))
})

/** `backoff`: a non-empty list of delays (the last repeats), or the exponential form. */
export const BackoffFile = Schema.Union([
  Schema.Array(ShortDuration).pipe(Schema.check(nonEmptyList("durations"))),
  ExponentialBackoffFile
]).annotate({ expected: "a list of durations or { initial, max, factor, jitter }" })

/** `step.up`: `jump` (at once to the desired count), `double`, or `add <n>` (n >= 1). */
const StepUpFile = Schema.String.annotate({ expected: "jump, double or add <n>" }).pipe(Schema.check(Schema.makeFilter<string>((s) =>
  parseStepUp(s) !== undefined || `expected jump, double or add <n> (n an integer >= 1), got ${JSON.stringify(s)}`
)))

/** The model's step-up rule from its checked text. */
export const parseStepUp = (s: string): StepUp | undefined => {
  const t = s.trim()
  if (t === "jump" || t === "double") return { _tag: t }
  const m = /^add\s+(\d{1,6})$/.exec(t)
  return m && Number(m[1]) >= 1 ? { _tag: "add", n: Number(m[1]) } : undefined
}

const Signals = Schema.Array(Schema.Literals(["backlog", "waitTime", "utilization", "rate"])).pipe(
  Schema.check(nonEmptyList("signals (backlog, waitTime, utilization, rate)")),
  Schema.check(Schema.makeFilter<ReadonlyArray<string>>((xs) => new Set(xs).size === xs.length || `expected each signal once, got ${JSON.stringify(xs)}`))
)

/** An IANA time zone name this Node.js knows (`Europe/Berlin`, `UTC`). */
const TimeZone = Schema.String.pipe(Schema.check(Schema.makeFilter<string>((s) => timezoneProblem(s) ?? true)))

/** A five-field cron expression (minute hour day-of-month month day-of-week). */
const CronText = Schema.String.pipe(Schema.check(Schema.makeFilter<string>((s) => {
  const parsed = parseCron(s)
  return typeof parsed === "string" ? parsed : true
})))

/** Schedules last at most a week: their matches are searched that far back. */
const maxScheduleFor = Duration.days(7)

/** One entry of `schedule:`: from each cron match, for `for`, at least `minReplicas`. */
const ScheduleEntryFile = Schema.Struct({
  cron: CronText,
  minReplicas: IntAtLeast(0),
  for: ShortDuration.pipe(Schema.check(isDurationPositive), Schema.check(Schema.makeFilter<Duration.Duration>((d) =>
    Duration.isLessThanOrEqualTo(d, maxScheduleFor) || `expected a duration of at most 7d, got ${Duration.format(d)}`
  ))),
  timezone: Schema.optionalKey(TimeZone)
})

/** A priority level's name: a subject token and part of a consumer name. */
const LevelName = Schema.String.pipe(Schema.check(Schema.makeFilter<string>((s) =>
  (s.length <= 32 && QUEUE_NAME_PATTERN.test(s)) || `expected a level name matching [a-z0-9][a-z0-9-]* of at most 32 characters, got ${JSON.stringify(s)}`
)))
const maxLevels = 5

// ---- the file -------------------------------------------------------------------------------

/** One entry of `queues:` (the key is the queue name). */
export const QueueFile = Schema.Struct({
  subjects: Schema.optionalKey(Schema.Array(Subject).pipe(Schema.check(nonEmptyList("subjects")))),
  image: Schema.optionalKey(NonEmptyString),
  command: Schema.optionalKey(Schema.Array(Schema.String).pipe(Schema.check(nonEmptyList("arguments")))),
  env: Schema.Record(Schema.String, EnvValue).pipe(withDefault({})),
  minReplicas: IntAtLeast(0).pipe(withDefault(DEFAULTS.minReplicas)),
  // its bounds depend on minReplicas: see crossFieldProblems
  maxReplicas: AnyInt.pipe(withDefault(DEFAULTS.maxReplicas)),
  targetPending: IntAtLeast(1).pipe(withDefault(DEFAULTS.targetPending)),
  activation: IntAtLeast(1).pipe(withDefault(DEFAULTS.activation)),
  idleTimeout: ShortDuration.pipe(withDefault(DEFAULTS.idleTimeout)),
  scaleDownDelay: ShortDuration.pipe(withDefault(DEFAULTS.scaleDownDelay)),
  concurrency: IntAtLeast(1).pipe(withDefault(DEFAULTS.concurrency)),
  ackWait: ShortDuration.pipe(Schema.check(isDurationAtLeast(Duration1s)), withDefault(DEFAULTS.ackWait)),
  maxDeliver: IntAtLeast(1).pipe(withDefault(DEFAULTS.maxDeliver)),
  // Backpressure: the stream holds at most this many jobs and refuses more; no limit unless set
  maxBacklog: Schema.optionalKey(IntAtLeast(1)),
  // The stream's replication on a NATS cluster (1 on a single server)
  replicas: StreamReplicas.pipe(withDefault(DEFAULTS.replicas)),
  backoff: BackoffFile.pipe(withDefault(DEFAULTS.backoff)),
  stopTimeout: ShortDuration.pipe(withDefault(DEFAULTS.stopTimeout)),
  // No limit unless set: a job that runs longer fails like any other failure
  jobTimeout: Schema.optionalKey(ShortDuration.pipe(Schema.check(isDurationPositive))),
  limits: Schema.Struct({
    memory: Schema.optionalKey(ByteSize.pipe(Schema.check(Schema.makeFilter<number>((n) => n > 0 || "expected a size > 0")))),
    cpus: Schema.optionalKey(Schema.Number.pipe(Schema.check(Schema.makeFilter<number>((n) =>
      (Number.isFinite(n) && n > 0) || `expected a number > 0, got ${n}`
    )))),
    pids: Schema.optionalKey(IntAtLeast(1))
  }).pipe(withDefault({})),
  // Refused unless runtime.docker.allowPrivileged: see crossFieldProblems
  privileged: Schema.Boolean.pipe(withDefault(false)),
  // What an idle replica becomes on a scale-in: stopped (drained, removed), or suspended (cordoned,
  // then frozen: `docker pause` / SIGSTOP) and thawed by the next wake
  idle: Schema.Literals(["stop", "suspend"]).pipe(withDefault("stop" as const)),
  // Host paths bind-mounted into worker containers (docker driver); none by default
  mounts: Schema.Array(MountSpec).pipe(withDefault([])),
  // What the queue scales on: the largest desired count of these signals decides
  signals: Signals.pipe(withDefault(DEFAULTS.signals)),
  targetWait: ShortDuration.pipe(Schema.check(isDurationPositive), withDefault(DEFAULTS.targetWait)),
  // utilization (jobs in flight / slots): out above scaleUpAt, in below scaleDownAt (see crossFieldProblems)
  scaleUpAt: NumberWhere("a number in (0, 1]", (n) => n > 0 && n <= 1).pipe(withDefault(DEFAULTS.scaleUpAt)),
  scaleDownAt: NumberWhere("a number in [0, 1)", (n) => n >= 0 && n < 1).pipe(withDefault(DEFAULTS.scaleDownAt)),
  // EWMA half-life over the signals; none unless set
  smoothing: Schema.optionalKey(ShortDuration.pipe(Schema.check(isDurationPositive))),
  step: Schema.Struct({
    up: StepUpFile.pipe(withDefault(DEFAULTS.stepUp)),
    down: Schema.Literals(["one", "half", "jump"]).pipe(withDefault(DEFAULTS.stepDown))
  }).pipe(withDefault({})),
  // Under scaler.maxReplicas, higher priorities are granted replicas first
  priority: AnyInt.pipe(withDefault(DEFAULTS.priority)),
  // Known busy times: a floor of replicas from each cron match, for a while
  schedule: Schema.Array(ScheduleEntryFile).pipe(withDefault([])),
  // Levels of priority, highest first: a subject jobs.<queue>.<level> and a consumer workers-<level> each
  priorities: Schema.optionalKey(Schema.Array(LevelName).pipe(
    Schema.check(Schema.makeFilter<ReadonlyArray<string>>((xs) => (xs.length >= 2 && xs.length <= maxLevels) || `expected 2 to ${maxLevels} levels, got ${xs.length}`)),
    Schema.check(Schema.makeFilter<ReadonlyArray<string>>((xs) => new Set(xs).size === xs.length || `expected each level once, got ${JSON.stringify(xs)}`))
  )),
  // worker: replicas that pull jobs; job: one container or process per job
  mode: Schema.Literals(["worker", "job"]).pipe(withDefault(DEFAULTS.mode)),
  // Where the swarm driver may place the queue's workers: Swarm's own constraint and preference
  // expressions (`node.labels.zone==eu`, `spread=node.labels.zone`)
  placement: Schema.Struct({
    constraints: Schema.Array(NonEmptyString).pipe(withDefault([])),
    preferences: Schema.Array(SpreadPreference).pipe(withDefault([]))
  }).pipe(withDefault({}))
})
export type QueueFile = typeof QueueFile.Type

/** The whole `jetscale.yaml` document. */
export const ConfigFile = Schema.Struct({
  nats: Schema.Struct({
    // One server, or a cluster: a list, or a comma-separated string (like NATS_URL)
    url: Schema.Union([NatsServers, NatsServerList]).pipe(withDefault(DEFAULTS.natsUrl)),
    // Passwords are never read from this file: see resolveCredentials in ./load.ts
    user: Schema.optionalKey(NonEmptyString),
    workerUser: Schema.optionalKey(NonEmptyString)
  }).pipe(withDefault({})),
  runtime: Schema.Struct({
    driver: Schema.Literals(["docker", "process", "swarm"]).pipe(withDefault(DEFAULTS.driver)),
    docker: Schema.Struct({
      network: NonEmptyString.pipe(withDefault(DEFAULTS.dockerNetwork)),
      socketPath: Schema.optionalKey(NonEmptyString),
      allowPrivileged: Schema.Boolean.pipe(withDefault(false))
    }).pipe(withDefault({}))
  }).pipe(withDefault({})),
  // What this scaler owns on a shared NATS server and Docker host: containers, streams, advisories
  deployment: DeploymentName.pipe(withDefault(DEFAULTS.deployment)),
  scaler: Schema.Struct({
    interval: ShortDuration.pipe(Schema.check(isDurationPositive), withDefault(DEFAULTS.interval)),
    // The leader's lease (high availability): a standby takes over within two of these after the
    // leader is gone; a leader that could not renew it stops acting before it runs out
    lease: ShortDuration.pipe(Schema.check(isDurationAtLeast(Duration1s)), withDefault(DEFAULTS.lease)),
    // The replicas of all queues together stay within this budget; none unless set
    maxReplicas: Schema.optionalKey(IntAtLeast(1)),
    // The time zone of the queues' schedules
    timezone: TimeZone.pipe(withDefault(DEFAULTS.timezone))
  }).pipe(withDefault({})),
  admin: Schema.Struct({
    listen: HostPort.pipe(withDefault(DEFAULTS.adminListen)),
    token: Schema.optionalKey(NonEmptyString),
    submitToken: Schema.optionalKey(NonEmptyString)
  }).pipe(withDefault({})),
  logs: Schema.Struct({
    maxAge: ShortDuration.pipe(Schema.check(isDurationPositive), withDefault(DEFAULTS.logsMaxAge)),
    maxBytes: StreamBytes.pipe(withDefault(DEFAULTS.logsMaxBytes)),
    linesPerSecond: IntAtLeast(1).pipe(withDefault(DEFAULTS.logsLinesPerSecond))
  }).pipe(withDefault({})),
  dlq: Schema.Struct({
    maxBytes: StreamBytes.pipe(withDefault(DEFAULTS.dlqMaxBytes))
  }).pipe(withDefault({})),
  // Replication of jetscale's own streams and KV buckets (DLQ, advisories, logs, errors, leases)
  jetstream: Schema.Struct({
    replicas: StreamReplicas.pipe(withDefault(DEFAULTS.replicas))
  }).pipe(withDefault({})),
  queues: Schema.Record(Schema.String, QueueFile).pipe(withDefault({}))
})
export type ConfigFile = typeof ConfigFile.Type

/** Options for {@link ConfigFile} decoding: report every problem and reject unknown keys. */
export const parseOptions = { errors: "all", onExcessProperty: "error", reportInput: true } as const
