// The rules of jetscale.yaml that involve more than one field or queue: names (pattern, reserved
// streams), replica bounds, backoff bounds, driver needs, subjects. Checked on the raw (parsed,
// undecoded) file, so that they are reported together with every Schema problem; a rule is skipped
// where a value it needs is itself invalid (Schema reports it).
import { Duration, Option, Schema } from "effect"
import { formatShortDuration, ShortDuration } from "./duration.ts"
import { type ConfigProblem, isPlainObject, type ProblemPath } from "./errors.ts"
import { DEFAULTS, defaultSubjects, QUEUE_NAME_PATTERN, RESERVED_STREAMS } from "./schema.ts"
import { subjectProblem, subjectsOverlap } from "./subjects.ts"
import { containerName, levelSubject, streamName } from "../jetstream/names.ts"

/** The integer at `key`, its default when absent, or `undefined` when it is not an integer. */
const rawInt = (o: Record<string, unknown>, key: string, dflt: number): number | undefined => {
  if (!Object.hasOwn(o, key)) return dflt
  const v = o[key]
  return typeof v === "number" && Number.isSafeInteger(v) ? v : undefined
}

/**
 * The duration at `key` (a mapping), its default when absent and `dflt` is given, or `undefined`
 * when it is absent without a default or not a valid duration.
 */
const rawDuration = (o: Record<string, unknown>, key: string, dflt?: string): Duration.Duration | undefined => {
  const v = Object.hasOwn(o, key) ? o[key] : dflt
  return v === undefined ? undefined : Option.getOrUndefined(Schema.decodeUnknownOption(ShortDuration)(v))
}

/** `backoff.max >= backoff.initial`, for the exponential (mapping) form. */
const backoffProblems = (backoff: unknown, at: ProblemPath): ReadonlyArray<ConfigProblem> => {
  if (!isPlainObject(backoff)) return []
  const initial = rawDuration(backoff, "initial")
  const max = rawDuration(backoff, "max", DEFAULTS.backoffMax)
  if (initial === undefined || max === undefined || Duration.isGreaterThanOrEqualTo(max, initial)) return []
  const dflt = Object.hasOwn(backoff, "max") ? "" : " (the default)"
  return [{
    path: [...at, "max"],
    message: `expected a duration >= initial (${formatShortDuration(initial)}), got ${formatShortDuration(max)}${dflt}`
  }]
}

/** The number at `key`, its default when absent, or `undefined` when it is not a number. */
const rawNumber = (o: Record<string, unknown>, key: string, dflt: number): number | undefined => {
  if (!Object.hasOwn(o, key)) return dflt
  const v = o[key]
  return typeof v === "number" && Number.isFinite(v) ? v : undefined
}

/** `scaleDownAt < scaleUpAt`, schedules within maxReplicas, and what job mode can't do. */
const scalingProblems = (q: Record<string, unknown>, at: ProblemPath, max: number | undefined): ReadonlyArray<ConfigProblem> => {
  const out: Array<ConfigProblem> = []
  const up = rawNumber(q, "scaleUpAt", DEFAULTS.scaleUpAt)
  const down = rawNumber(q, "scaleDownAt", DEFAULTS.scaleDownAt)
  if (up !== undefined && down !== undefined && down >= 0 && up > 0 && up <= 1 && down >= up) {
    out.push({ path: [...at, "scaleDownAt"], message: `expected a number below scaleUpAt (${up}), got ${down}` })
  }
  if (Array.isArray(q["schedule"]) && max !== undefined) {
    q["schedule"].forEach((e: unknown, i) => {
      const floor = isPlainObject(e) ? e["minReplicas"] : undefined
      if (typeof floor === "number" && Number.isSafeInteger(floor) && floor > max) {
        out.push({ path: [...at, "schedule", i, "minReplicas"], message: `expected an integer <= maxReplicas (${max}), got ${floor}` })
      }
    })
  }
  if (q["mode"] === "job" && q["idle"] === "suspend") {
    out.push({ path: [...at, "idle"], message: "mode: job has no idle replicas to suspend (each job's worker exits when it ends)" })
  }
  if (q["mode"] === "job" && Array.isArray(q["schedule"]) && q["schedule"].length > 0) {
    out.push({ path: [...at, "schedule"], message: "mode: job starts a worker per job, so there is no floor of replicas to schedule" })
  }
  return out
}

/** `scaler.maxReplicas` must leave room for every queue's minReplicas. */
const budgetProblems = (raw: Record<string, unknown>, queues: Record<string, unknown>): ReadonlyArray<ConfigProblem> => {
  const scaler = raw["scaler"]
  if (!isPlainObject(scaler) || typeof scaler["maxReplicas"] !== "number" || !Number.isSafeInteger(scaler["maxReplicas"])) return []
  const budget = scaler["maxReplicas"]
  // A job-mode queue has no floor: its workers come and go with its jobs.
  const floors = Object.values(queues).reduce<number>((sum, q) =>
    sum + (isPlainObject(q) && q["mode"] !== "job" ? Math.max(0, rawInt(q, "minReplicas", DEFAULTS.minReplicas) ?? 0) : 0), 0)
  return floors > budget
    ? [{ path: ["scaler", "maxReplicas"], message: `expected an integer >= the queues' minReplicas together (${floors}), got ${budget}` }]
    : []
}

/** Swarm service names are at most this long. */
const swarmNameLimit = 63

/** The deployment named in the file (its default when absent or not a string). */
const deploymentOf = (raw: Record<string, unknown>): string => typeof raw["deployment"] === "string" ? raw["deployment"] : DEFAULTS.deployment

/**
 * Problems that involve more than one field or queue: names (pattern, reserved streams), replica
 * bounds, backoff bounds, driver needs, subjects.
 */
export const crossFieldProblems = (raw: unknown): ReadonlyArray<ConfigProblem> => {
  if (!isPlainObject(raw) || !isPlainObject(raw["queues"])) return []
  const out: Array<ConfigProblem> = []
  const runtime = raw["runtime"]
  const driver = runtime === undefined ? DEFAULTS.driver
    : isPlainObject(runtime) ? (Object.hasOwn(runtime, "driver") ? runtime["driver"] : DEFAULTS.driver)
    : undefined
  const docker = isPlainObject(runtime) && isPlainObject(runtime["docker"]) ? runtime["docker"] : {}
  const allowPrivileged = docker["allowPrivileged"] === true
  const claimed: Array<{ readonly queue: string; readonly subject: string }> = []
  out.push(...budgetProblems(raw, raw["queues"]))
  for (const [name, q] of Object.entries(raw["queues"])) {
    const at = ["queues", name]
    if (!QUEUE_NAME_PATTERN.test(name)) out.push({ path: at, message: "queue name must match [a-z0-9][a-z0-9-]*" })
    else if (RESERVED_STREAMS.includes(streamName(name)) || name.startsWith("advisories-")) {
      out.push({ path: at, message: `queue name ${JSON.stringify(name)} is reserved (jetscale uses the stream ${streamName(name)})` })
    }
    if (!isPlainObject(q)) continue

    const min = rawInt(q, "minReplicas", DEFAULTS.minReplicas)
    const max = rawInt(q, "maxReplicas", DEFAULTS.maxReplicas)
    const gotMax = `got ${max}${Object.hasOwn(q, "maxReplicas") ? "" : " (the default)"}`
    if (max !== undefined && min !== undefined && min >= 0 && max < min) {
      out.push({ path: [...at, "maxReplicas"], message: `expected an integer >= minReplicas (${min}), ${gotMax}` })
    } else if (max !== undefined && max < 1) {
      out.push({ path: [...at, "maxReplicas"], message: `expected an integer >= 1, ${gotMax}` })
    }
    out.push(...backoffProblems(q["backoff"], [...at, "backoff"]))
    out.push(...scalingProblems(q, at, max))

    if ((driver === "docker" || driver === "swarm") && !Object.hasOwn(q, "image")) {
      out.push({ path: [...at, "image"], message: `required when runtime.driver is ${driver}` })
    }
    if (driver === "swarm" && q["privileged"] === true) {
      out.push({ path: [...at, "privileged"], message: "Swarm has no privileged services (runtime.driver is swarm)" })
    }
    if (driver === "swarm" && QUEUE_NAME_PATTERN.test(name) && containerName(deploymentOf(raw), name, "00000000").length > swarmNameLimit) {
      out.push({ path: at, message: `too long for the swarm driver: its services are named jetscale-[<deployment>-]<queue>-<8-character id>, at most ${swarmNameLimit} characters (Swarm's limit)` })
    }
    if (driver !== "swarm" && isPlainObject(q["placement"]) && Object.values(q["placement"]).some((v) => Array.isArray(v) && v.length > 0)) {
      out.push({ path: [...at, "placement"], message: "only the swarm driver places workers on nodes (runtime.driver is " + String(driver) + ")" })
    }
    if (q["privileged"] === true && !allowPrivileged) {
      out.push({ path: [...at, "privileged"], message: "privileged containers are refused unless runtime.docker.allowPrivileged is true" })
    }
    if (driver === "process" && Array.isArray(q["mounts"]) && q["mounts"].length > 0) {
      out.push({ path: [...at, "mounts"], message: "only the docker driver mounts host paths (a process worker sees the host's files already)" })
    }
    if (driver === "process" && !Object.hasOwn(q, "command")) {
      out.push({ path: [...at, "command"], message: "required when runtime.driver is process" })
    }

    const levels = Array.isArray(q["priorities"]) ? q["priorities"].filter((l): l is string => typeof l === "string") : undefined
    if (levels !== undefined && Object.hasOwn(q, "subjects")) {
      out.push({ path: [...at, "subjects"], message: `a queue with priorities takes its jobs on jobs.${name}.<level>: remove subjects` })
    }
    const subjects: ReadonlyArray<{ readonly subject: string; readonly path: ProblemPath }> = levels !== undefined
      ? levels.map((level, i) => ({ subject: levelSubject(name, level), path: [...at, "priorities", i] }))
      : !Object.hasOwn(q, "subjects")
      ? defaultSubjects(name).map((subject) => ({ subject, path: [...at, "subjects"] }))
      : Array.isArray(q["subjects"])
      ? q["subjects"].flatMap((s: unknown, i) =>
        typeof s === "string" && subjectProblem(s) === undefined ? [{ subject: s, path: [...at, "subjects", i] }] : []
      )
      : []
    const mine = new Set<string>()
    for (const { path, subject } of subjects) {
      if (mine.has(subject)) out.push({ path, message: `duplicate subject ${JSON.stringify(subject)}` })
      mine.add(subject)
      const other = claimed.find((c) => c.queue !== name && subjectsOverlap(c.subject, subject))
      if (other !== undefined) {
        out.push({
          path,
          message: other.subject === subject
            ? `subject ${JSON.stringify(subject)} is also used by queue ${other.queue}`
            : `subject ${JSON.stringify(subject)} overlaps ${JSON.stringify(other.subject)} of queue ${other.queue}`
        })
      }
    }
    for (const subject of mine) claimed.push({ queue: name, subject })
  }
  return out
}
