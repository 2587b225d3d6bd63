// `jetscale scale <queue> <N> [--for 10m]`: pins a queue's replica count through the admin API of
// the running scaler (POST /api/queues/<queue>/scale); `jetscale scale <queue> auto` ends the
// override early (DELETE) and hands the queue back to the policy.
import { Console, Effect, Option, Result, Schema } from "effect"
import { clientUrl, parseListen } from "../admin/listen.ts"
import { ShortDuration, formatShortDuration } from "../config/duration.ts"
import { overrideTtlProblem } from "../scaler/override.ts"
import { load, reportFailure } from "./common.ts"

export class ScaleError extends Schema.TaggedError<ScaleError>()("ScaleError", { message: Schema.String }) {}

export interface ScaleRequest {
  /** Admin API base URL, e.g. `http://127.0.0.1:9464`. */
  readonly url: string
  readonly token?: string | undefined
  readonly queue: string
  /** A replica count to pin, or "auto" to end the override. */
  readonly target: number | "auto"
  /** How long the override holds (`10m`); the scaler's default (10m) when absent. */
  readonly ttl?: string | undefined
  /** Per-request timeout in ms (default 5000). */
  readonly timeoutMs?: number | undefined
}

/** The CLI's `<replicas>` argument: a whole number or `auto`. */
export const parseTarget = (s: string): Result.Result<number | "auto", string> => {
  const t = s.trim().toLowerCase()
  if (t === "auto") return Result.succeed("auto")
  return /^\d+$/.test(t) && Number.isSafeInteger(Number(t))
    ? Result.succeed(Number(t))
    : Result.fail(`replicas: expected an integer >= 0 or "auto", got ${JSON.stringify(s)}`)
}

const errorCode = (e: unknown): string | undefined => {
  const cause = e instanceof Error ? (e.cause as { code?: unknown } | undefined) : undefined
  const code = cause?.code ?? (cause instanceof AggregateError ? (cause.errors[0] as { code?: unknown })?.code : undefined)
  return typeof code === "string" ? code : undefined
}

/** Sends one request; connection problems become one clear line. */
const send = (req: ScaleRequest, method: "POST" | "DELETE", body?: unknown) => Effect.tryPromise({
  try: async () => {
    const timeoutMs = req.timeoutMs ?? 5000
    const res = await fetch(`${req.url}/api/queues/${encodeURIComponent(req.queue)}/scale`, {
      method,
      headers: {
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...(req.token ? { authorization: `Bearer ${req.token}` } : {})
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(timeoutMs)
    })
    const text = await res.text()
    let json: Record<string, unknown> = {}
    try {
      const parsed: unknown = JSON.parse(text)
      if (parsed !== null && typeof parsed === "object") json = parsed as Record<string, unknown>
    } catch { /* not JSON: reported below by status */ }
    return { status: res.status, json, text }
  },
  catch: (e) => {
    const code = errorCode(e)
    if (code === "ECONNREFUSED") return new ScaleError({ message: `no scaler answers at ${req.url} (is jetscale up running?)` })
    if (e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError")) {
      return new ScaleError({ message: `the scaler at ${req.url} did not answer within ${(req.timeoutMs ?? 5000) / 1000}s` })
    }
    return new ScaleError({ message: `cannot reach the scaler at ${req.url}: ${code ?? (e instanceof Error ? e.message : String(e))}` })
  }
})

const failed = (req: ScaleRequest, res: { status: number; json: Record<string, unknown>; text: string }) => {
  if (res.status === 401) {
    return new ScaleError({
      message: req.token
        ? `the scaler at ${req.url} refused the admin token (check admin.token or JETSCALE_ADMIN_TOKEN)`
        : `the scaler at ${req.url} wants an admin token: set admin.token in the config or JETSCALE_ADMIN_TOKEN`
    })
  }
  const error = typeof res.json["error"] === "string" ? res.json["error"] : `${res.status} ${res.text.slice(0, 200)}`.trim()
  return new ScaleError({ message: error })
}

/** Does what `jetscale scale` does and returns the line it prints. */
export const requestScale = (req: ScaleRequest): Effect.Effect<string, ScaleError> => Effect.gen(function*() {
  if (req.target === "auto") {
    if (req.ttl !== undefined) return yield* new ScaleError({ message: "--for: applies to a replica count, not to auto" })
    const res = yield* send(req, "DELETE")
    if (res.status === 200) return `queue ${req.queue}: override ended; the policy decides again`
    if (res.status === 404 && res.json["override"] === "none") return `queue ${req.queue}: no override in force; the policy already decides`
    return yield* failed(req, res)
  }
  if (!Number.isSafeInteger(req.target) || req.target < 0) {
    return yield* new ScaleError({ message: `replicas: expected an integer >= 0 or "auto", got ${req.target}` })
  }
  let ttlText = "10m"
  if (req.ttl !== undefined) {
    const ttl = Schema.decodeUnknownResult(ShortDuration)(req.ttl)
    if (Result.isFailure(ttl)) {
      return yield* new ScaleError({ message: `--for: expected a duration like 30s, 10m or 1h, got ${JSON.stringify(req.ttl)}` })
    }
    const problem = overrideTtlProblem(ttl.success)
    if (problem !== undefined) return yield* new ScaleError({ message: `--for: ${problem}, got ${JSON.stringify(req.ttl)}` })
    ttlText = formatShortDuration(ttl.success)
  }
  const res = yield* send(req, "POST", { replicas: req.target, ...(req.ttl === undefined ? {} : { ttl: req.ttl }) })
  if (res.status !== 200) return yield* failed(req, res)
  const replicas = typeof res.json["replicas"] === "number" ? res.json["replicas"] : req.target
  const until = typeof res.json["until"] === "string" ? res.json["until"] : "?"
  return `queue ${req.queue}: pinned to ${replicas} replica(s) until ${until} (${ttlText}); then the policy resumes`
})

export interface ScaleArgs {
  readonly config: string
  readonly queue: string
  readonly replicas: string
  readonly for: Option.Option<string>
}

export const runScale = ({ config: path, queue, replicas, for: ttl }: ScaleArgs) =>
  Effect.gen(function*() {
    const target = parseTarget(replicas)
    if (Result.isFailure(target)) return yield* new ScaleError({ message: target.failure })
    const config = yield* load(path)
    const address = parseListen(config.admin.listen)
    if (!address) return yield* new ScaleError({ message: `admin.listen: expected host:port, got ${JSON.stringify(config.admin.listen)}` })
    const line = yield* requestScale({ url: clientUrl(address), token: config.admin.token, queue, target: target.success, ttl: Option.getOrUndefined(ttl) })
    yield* Console.log(line)
  }).pipe(reportFailure)
