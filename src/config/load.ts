// Loads `jetscale.yaml`: read the file, parse YAML, decode and check it (reporting every problem),
// then apply environment overrides (`NATS_URL`). The entry point for every jetscale program.
import { Effect, Result, Schema } from "effect"
import { readFile } from "node:fs/promises"
import { LineCounter, parseDocument } from "yaml"
import {
  ConfigLoadError,
  formatProblem,
  isPlainObject,
  issueProblems,
  makeConfigLoadError,
  sortProblems
} from "./errors.ts"
import type { JetscaleConfig } from "./model.ts"
import { ConfigFile, crossFieldProblems, parseOptions, toModel } from "./schema.ts"

export { ConfigLoadError, formatConfigError } from "./errors.ts"

type Env = Readonly<Record<string, string | undefined>>

/**
 * An empty document means "all defaults", and `queues:` with nothing under it means no queues
 * (YAML reads both as null). Other nulls are reported as errors.
 */
const normalize = (raw: unknown): unknown => {
  if (raw === null || raw === undefined) return {}
  if (isPlainObject(raw) && raw["queues"] === null) {
    const { queues: _, ...rest } = raw
    return rest
  }
  return raw
}

/**
 * Applies environment overrides: a non-empty `NATS_URL` replaces `nats.url`, and a non-empty
 * `JETSCALE_DOCKER_NETWORK` replaces `runtime.docker.network` (the compose stack sets both), and a
 * non-empty `JETSCALE_ADMIN_TOKEN` replaces `admin.token`.
 */
export const applyEnv = (config: JetscaleConfig, env: Env): JetscaleConfig => {
  const url = env["NATS_URL"]?.trim()
  const network = env["JETSCALE_DOCKER_NETWORK"]?.trim()
  const token = env["JETSCALE_ADMIN_TOKEN"]?.trim()
  return {
    ...config,
    admin: token ? { ...config.admin, token } : config.admin,
    nats: url ? { ...config.nats, url } : config.nats,
    runtime: network ? { ...config.runtime, docker: { ...config.runtime.docker, network } } : config.runtime
  }
}

/** Decodes an already-parsed document; the pure core of {@link decodeConfig}. */
export const decodeConfigResult = (
  value: unknown,
  env: Env = process.env,
  file?: string
): Result.Result<JetscaleConfig, ConfigLoadError> => {
  const raw = normalize(value)
  const decoded = Schema.decodeUnknownResult(ConfigFile, parseOptions)(raw)
  const problems = sortProblems(
    [...(Result.isFailure(decoded) ? issueProblems(decoded.failure.issue) : []), ...crossFieldProblems(raw)],
    raw
  )
  if (problems.length > 0 || Result.isFailure(decoded)) {
    const lines = [...new Set(problems.map(formatProblem))]
    return Result.fail(makeConfigLoadError({ kind: "invalid", file, problems: lines.length > 0 ? lines : ["invalid config"] }))
  }
  const order = isPlainObject(raw) && isPlainObject(raw["queues"]) ? Object.keys(raw["queues"]) : []
  return Result.succeed(applyEnv(toModel(decoded.success, order), env))
}

/**
 * Decodes a parsed config document (e.g. the result of YAML parsing) into the model, reporting
 * every problem at once; `env` (default `process.env`) supplies `NATS_URL`.
 */
export const decodeConfig = (value: unknown, env: Env = process.env): Effect.Effect<JetscaleConfig, ConfigLoadError> =>
  Effect.suspend(() => Effect.fromResult(decodeConfigResult(value, env)))

/** Parses YAML text; errors become one `file:line:col: message` line. */
export const parseYaml = (text: string, file: string): Result.Result<unknown, ConfigLoadError> => {
  const lineCounter = new LineCounter()
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, merge: true })
  const error = doc.errors[0]
  if (error !== undefined) {
    const { line, col } = lineCounter.linePos(error.pos[0])
    return Result.fail(makeConfigLoadError({ kind: "bad-yaml", file, problems: [`${file}:${line}:${col}: ${error.message}`], cause: error }))
  }
  try {
    return Result.succeed(doc.toJS({ maxAliasCount: 1000 }))
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause)
    return Result.fail(makeConfigLoadError({ kind: "bad-yaml", file, problems: [`${file}: ${message}`], cause }))
  }
}

const readError = (file: string, cause: unknown): ConfigLoadError => {
  const code = (cause as { code?: unknown } | null)?.code
  return code === "ENOENT"
    ? makeConfigLoadError({ kind: "missing-file", file, problems: [`config file not found: ${file}`], cause })
    : makeConfigLoadError({
      kind: "unreadable",
      file,
      problems: [`cannot read config file ${file}: ${cause instanceof Error ? cause.message : String(cause)}`],
      cause
    })
}

/**
 * Loads and validates a jetscale config file. Fails with a {@link ConfigLoadError} whose
 * `problems` list every problem found (`queues.demo.maxReplicas: expected ...`).
 */
export const loadConfig = (path: string, env: Env = process.env): Effect.Effect<JetscaleConfig, ConfigLoadError> =>
  Effect.gen(function*() {
    const text = yield* Effect.tryPromise({ try: () => readFile(path, "utf8"), catch: (cause) => readError(path, cause) })
    const raw = yield* Effect.fromResult(parseYaml(text, path))
    return yield* Effect.fromResult(decodeConfigResult(raw, env, path))
  }).pipe(Effect.withSpan("config.load", { attributes: { "config.file": path } }))
