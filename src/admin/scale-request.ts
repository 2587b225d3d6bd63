// The body of `POST /api/queues/<name>/scale`: `{"replicas": N, "ttl": "10m"}` (ttl optional).
// Checked by hand so every error names its field and the value it got, in one line.
import { Duration, Result, Schema } from "effect"
import { ShortDuration } from "../config/duration.ts"
import { overrideTtlProblem } from "../scaler/override.ts"

export const defaultTtl: Duration.Duration = Duration.minutes(10)

export interface ScaleRequest {
  readonly replicas: number
  readonly ttl: Duration.Duration
}

const show = (v: unknown): string => v === undefined ? "nothing" : JSON.stringify(v) ?? String(v)
const kind = (v: unknown): string => v === null ? "null" : Array.isArray(v) ? "an array" : typeof v === "object" ? "an object" : `${typeof v} ${show(v)}`
const decodeDuration = Schema.decodeUnknownResult(ShortDuration)
const fields = ["replicas", "ttl"]

/** Parses the raw body text; the failure is the message for a 400. */
export const parseScaleRequest = (text: string): Result.Result<ScaleRequest, string> => {
  if (text.trim() === "") return Result.fail(`body: expected a JSON object like {"replicas": 3, "ttl": "10m"}, got an empty body`)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    return Result.fail(`body: invalid JSON (${e instanceof Error ? e.message : String(e)})`)
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return Result.fail(`body: expected a JSON object like {"replicas": 3, "ttl": "10m"}, got ${kind(value)}`)
  }
  const body = value as Record<string, unknown>
  const unknown = Object.keys(body).filter((k) => !fields.includes(k))
  if (unknown.length > 0) return Result.fail(`body: unknown field ${unknown.map((k) => JSON.stringify(k)).join(", ")} (expected replicas and optionally ttl)`)

  const replicas = body["replicas"]
  if (replicas === undefined) return Result.fail("replicas: required (an integer >= 0)")
  if (typeof replicas !== "number" || !Number.isSafeInteger(replicas) || replicas < 0) {
    return Result.fail(`replicas: expected an integer >= 0, got ${show(replicas)}`)
  }

  const rawTtl = body["ttl"]
  if (rawTtl === undefined) return Result.succeed({ replicas, ttl: defaultTtl })
  if (typeof rawTtl !== "string") return Result.fail(`ttl: expected a duration like 30s, 10m or 1h, got ${show(rawTtl)}`)
  const ttl = decodeDuration(rawTtl)
  if (Result.isFailure(ttl)) return Result.fail(`ttl: invalid duration ${JSON.stringify(rawTtl)} (use 30s, 10m, 1h)`)
  const problem = overrideTtlProblem(ttl.success)
  if (problem !== undefined) return Result.fail(`ttl: ${problem}, got ${JSON.stringify(rawTtl)}`)
  return Result.succeed({ replicas, ttl: ttl.success })
}
