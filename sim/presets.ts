// Policies to simulate: the built-in presets and YAML/JSON files. Both are a queue's scaling keys
// as in jetscale.yaml (decoded and checked by jetscale's own config loader, so a file means what it
// would mean in jetscale.yaml) plus the sim-only keys `interval`, `coldStart` and `wakeOnArrival`.
import { Duration, Result } from "effect"
import * as Yaml from "yaml"
import { decodeConfigResult, parseYaml } from "../src/config/load.ts"
import type { QueueConfig } from "../src/config/model.ts"
import { DEFAULTS } from "../src/config/schema.ts"
import { fromQueueConfig, type PolicyConfig } from "../src/scaler/policy.ts"
import { commonJs } from "../src/modules/common-js.ts"
import { formatMillis, parseMillis } from "./duration.ts"

export interface SimPolicy {
  readonly name: string
  /** Handed to `decide` as it is. */
  readonly config: PolicyConfig
  /** How often the policy is evaluated. */
  readonly intervalMs: number
  /** From a replica's start to its first job. */
  readonly coldStartMs: number
  /** Evaluate at once on an arrival at zero replicas (jetscale's activator), not only every `interval`. */
  readonly wakeOnArrival: boolean
}

/** Every preset raises maxReplicas from jetscale.yaml's default (5) to this, for a fair comparison. */
export const PRESET_MAX_REPLICAS = 20
export const DEFAULT_COLD_START = "500ms"
/** The simulator's own bound on a policy's replicas (each step visits every replica). */
export const SIM_MAX_REPLICAS = 1000
const MAX_FILE_BYTES = 1_000_000

/** The presets, in the file format. */
export const presetSources: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  "jetscale": { maxReplicas: PRESET_MAX_REPLICAS },
  // KEDA + HPA, approximated: 30 s polling and no push wake; 300 s cooldown before zero; HPA's 300 s
  // scale-down stabilization, then at once to the desired count; scale-up at most double per poll
  "keda": {
    maxReplicas: PRESET_MAX_REPLICAS,
    targetPending: 10,
    idleTimeout: "300s",
    scaleDownDelay: "300s",
    step: { up: "double", down: "jump" },
    interval: "30s",
    wakeOnArrival: false
  },
  "jetscale-wait": { maxReplicas: PRESET_MAX_REPLICAS, signals: ["waitTime"], targetWait: "5s" },
  "jetscale-smooth": { maxReplicas: PRESET_MAX_REPLICAS, signals: ["backlog", "rate"], smoothing: "30s" },
  "aimd": { maxReplicas: PRESET_MAX_REPLICAS, step: { up: "add 1", down: "half" } }
}

export const presetNames = Object.keys(presetSources)

/** The policy config of a decoded queue, with every scaling key. */
const policyConfigOf = (q: QueueConfig): PolicyConfig => ({
  ...fromQueueConfig(q),
  concurrency: q.concurrency,
  signals: q.signals,
  targetWaitMs: Duration.toMillis(q.targetWait),
  scaleUpAt: q.scaleUpAt,
  scaleDownAt: q.scaleDownAt,
  ...(q.smoothing === undefined ? {} : { smoothingMs: Duration.toMillis(q.smoothing) }),
  step: q.step
})

const simDuration = (value: unknown, key: string, min: number, max: number): number | string => {
  const ms = typeof value === "string" ? parseMillis(value) : undefined
  if (ms === undefined) return `${key}: expected a duration like 1s or 500ms, got ${JSON.stringify(value)}`
  if (ms < min || ms > max) return `${key}: expected a duration within ${formatMillis(min)}..${formatMillis(max)}, got ${value}`
  return ms
}

/** A policy from a parsed document (a mapping of scaling keys); `source` names it in errors. */
export const policyFromDocument = (name: string, doc: unknown, source: string): SimPolicy | string => {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) return `${source}: expected a mapping of scaling keys (maxReplicas, targetPending, ...)`
  const { interval = DEFAULTS.interval, coldStart = DEFAULT_COLD_START, wakeOnArrival = true, ...queue } = doc as Record<string, unknown>
  const intervalMs = simDuration(interval, "interval", 100, 3_600_000)
  const coldStartMs = simDuration(coldStart, "coldStart", 0, 600_000)
  const problems = [
    ...(typeof intervalMs === "string" ? [intervalMs] : []),
    ...(typeof coldStartMs === "string" ? [coldStartMs] : []),
    ...(typeof wakeOnArrival === "boolean" ? [] : [`wakeOnArrival: expected true or false, got ${JSON.stringify(wakeOnArrival)}`])
  ]
  // The queue is decoded as the only queue of a process-driver config (which needs no image).
  const decoded = decodeConfigResult({ runtime: { driver: "process" }, queues: { sim: { command: ["sim"], ...queue } } }, {}, source)
  if (Result.isFailure(decoded)) problems.push(...decoded.failure.problems.map((p) => p.replace(/^queues\.sim\./, "")))
  if (problems.length > 0 || Result.isFailure(decoded) || typeof intervalMs === "string" || typeof coldStartMs === "string") {
    return [`${source} is invalid:`, ...problems.map((p) => `  ${p}`)].join("\n")
  }
  const q = decoded.success.queues[0]!
  if (q.maxReplicas > SIM_MAX_REPLICAS) return `${source} is invalid:\n  maxReplicas: at most ${SIM_MAX_REPLICAS} in the simulator, got ${q.maxReplicas}`
  return { name, config: policyConfigOf(q), intervalMs, coldStartMs, wakeOnArrival: wakeOnArrival as boolean }
}

/** `--policy` value -> a preset by name, or a YAML/JSON file read with `readText`. */
export const loadPolicy = (spec: string, readText: (path: string) => string): SimPolicy | string => {
  const preset = presetSources[spec]
  if (preset !== undefined) return policyFromDocument(spec, preset, `preset ${spec}`)
  if (!/\.(ya?ml|json)$/i.test(spec)) {
    return `--policy: expected a preset (${presetNames.join(", ")}, or all) or a .yaml/.json file, got ${JSON.stringify(spec)}`
  }
  let text: string
  try {
    text = readText(spec)
  } catch (e) {
    return `--policy: cannot read ${spec}: ${e instanceof Error ? e.message : String(e)}`
  }
  if (text.length > MAX_FILE_BYTES) return `--policy: ${spec} is larger than ${MAX_FILE_BYTES} bytes`
  const parsed = parseYaml(commonJs(Yaml), text, spec)
  if (Result.isFailure(parsed)) return parsed.failure.message
  const name = spec.split("/").at(-1)!.replace(/\.(ya?ml|json)$/i, "")
  return policyFromDocument(name, parsed.success ?? {}, spec)
}
