// Loads `jetscale.yaml`: read the file, parse YAML, decode and check it (reporting every problem),
// then apply environment overrides (`NATS_URL`, credentials). The entry point for every jetscale program.
import { Effect, Result, Schema } from "effect"
import { readFile } from "node:fs/promises"
import type * as Yaml from "yaml"
import { commonJs } from "../modules/common-js.ts"
import {
  type ConfigProblem,
  ConfigLoadError,
  formatProblem,
  isPlainObject,
  issueProblems,
  makeConfigLoadError,
  sortProblems
} from "./errors.ts"
import type { JetscaleConfig, NatsSettings } from "./model.ts"
import { crossFieldProblems } from "./cross-field.ts"
import { ConfigFile, parseOptions } from "./schema.ts"
import { toModel } from "./to-model.ts"

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
 * `JETSCALE_DOCKER_NETWORK` replaces `runtime.docker.network`, `JETSCALE_ADMIN_LISTEN` replaces
 * `admin.listen` (the compose stack sets those three), and a non-empty `JETSCALE_ADMIN_TOKEN`
 * replaces `admin.token`.
 */
export const applyEnv = (config: JetscaleConfig, env: Env): JetscaleConfig => {
  const url = env["NATS_URL"]?.trim()
  const network = env["JETSCALE_DOCKER_NETWORK"]?.trim()
  const token = env["JETSCALE_ADMIN_TOKEN"]?.trim()
  const listen = env["JETSCALE_ADMIN_LISTEN"]?.trim()
  return {
    ...config,
    admin: { ...config.admin, ...(token ? { token } : {}), ...(listen ? { listen } : {}) },
    nats: url ? { ...config.nats, url } : config.nats,
    runtime: network ? { ...config.runtime, docker: { ...config.runtime.docker, network } } : config.runtime
  }
}

/**
 * The scaler's and the workers' NATS credentials. A user comes from the environment
 * (`NATS_USER`, `JETSCALE_WORKER_USER`) or the file (`nats.user`, `nats.workerUser`); its password
 * only from the environment (`NATS_PASSWORD`, `JETSCALE_WORKER_PASSWORD`).
 */
export const resolveCredentials = (
  file: ConfigFile["nats"],
  env: Env
): Result.Result<Pick<NatsSettings, "credentials" | "workerCredentials">, ReadonlyArray<ConfigProblem>> => {
  const problems: Array<ConfigProblem> = []
  const userOf = (key: "user" | "workerUser", userVar: string) => env[userVar]?.trim() || file[key]
  const user = userOf("user", "NATS_USER")
  const password = env["NATS_PASSWORD"] ?? ""
  if (user !== undefined && password === "") {
    problems.push({ path: ["nats", "user"], message: `user ${JSON.stringify(user)} needs its password in the environment variable NATS_PASSWORD (never in this file)` })
  }
  const credentials = user === undefined ? undefined : { user, password }
  // Only the scaler needs the workers' password (see scalerCredentialProblems).
  const workerUser = userOf("workerUser", "JETSCALE_WORKER_USER")
  const workerCredentials = workerUser === undefined ? undefined : { user: workerUser, password: env["JETSCALE_WORKER_PASSWORD"] ?? "" }
  return problems.length > 0 ? Result.fail(problems) : Result.succeed({
    ...(credentials === undefined ? {} : { credentials }),
    ...(workerCredentials === undefined ? {} : { workerCredentials })
  })
}

/** Decodes an already-parsed document; the pure core of {@link decodeConfig}. */
export const decodeConfigResult = (
  value: unknown,
  env: Env = process.env,
  file?: string
): Result.Result<JetscaleConfig, ConfigLoadError> => {
  const raw = normalize(value)
  const decoded = Schema.decodeUnknownResult(ConfigFile, parseOptions)(raw)
  const credentials = Result.isSuccess(decoded) ? resolveCredentials(decoded.success.nats, env) : Result.succeed({})
  const problems = sortProblems(
    [
      ...(Result.isFailure(decoded) ? issueProblems(decoded.failure.issue) : []),
      ...crossFieldProblems(raw),
      ...(Result.isFailure(credentials) ? credentials.failure : [])
    ],
    raw
  )
  if (problems.length > 0 || Result.isFailure(decoded) || Result.isFailure(credentials)) {
    const lines = [...new Set(problems.map(formatProblem))]
    return Result.fail(makeConfigLoadError({ kind: "invalid", file, problems: lines.length > 0 ? lines : ["invalid config"] }))
  }
  const order = isPlainObject(raw) && isPlainObject(raw["queues"]) ? Object.keys(raw["queues"]) : []
  const model = toModel(decoded.success, order)
  return Result.succeed(applyEnv({ ...model, nats: { ...model.nats, ...credentials.success } }, env))
}

/**
 * Decodes a parsed config document (e.g. the result of YAML parsing) into the model, reporting
 * every problem at once; `env` (default `process.env`) supplies `NATS_URL`.
 */
export const decodeConfig = (value: unknown, env: Env = process.env): Effect.Effect<JetscaleConfig, ConfigLoadError> =>
  Effect.suspend(() => Effect.fromResult(decodeConfigResult(value, env)))

/**
 * Parses YAML text; errors become one `file:line:col: message` line. The `yaml` package comes in
 * from the caller: it loads only when a config is read (`jetscale --help` starts without it).
 */
export const parseYaml = (yaml: typeof Yaml, text: string, file: string): Result.Result<unknown, ConfigLoadError> => {
  const lineCounter = new yaml.LineCounter()
  const doc = yaml.parseDocument(text, { lineCounter, prettyErrors: false, merge: true })
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
 * The workers' user needs its password, and a scaler with a user must have a different one for
 * its workers: they never get the scaler's credentials.
 */
export const scalerCredentialProblems = (nats: NatsSettings): ReadonlyArray<ConfigProblem> => {
  const { credentials, workerCredentials } = nats
  if (workerCredentials !== undefined && workerCredentials.password === "") {
    return [{ path: ["nats", "workerUser"], message: `user ${JSON.stringify(workerCredentials.user)} needs its password in the environment variable JETSCALE_WORKER_PASSWORD (never in this file)` }]
  }
  if (credentials === undefined) return []
  if (workerCredentials === undefined) {
    return [{ path: ["nats", "workerUser"], message: `required when the scaler connects as user ${JSON.stringify(credentials.user)}: workers get their own credentials, never the scaler's (or set JETSCALE_WORKER_USER)` }]
  }
  return workerCredentials.user === credentials.user
    ? [{ path: ["nats", "workerUser"], message: `must differ from the scaler's user (${JSON.stringify(credentials.user)}): workers never get the scaler's credentials` }]
    : []
}

/** {@link loadConfig} plus the rules that only the scaler (`jetscale up`) needs. */
export const loadScalerConfig = (path: string, env: Env = process.env): Effect.Effect<JetscaleConfig, ConfigLoadError> =>
  Effect.flatMap(loadConfig(path, env), (config) => {
    const problems = scalerCredentialProblems(config.nats)
    return problems.length === 0 ? Effect.succeed(config)
      : Effect.fail(makeConfigLoadError({ kind: "invalid", file: path, problems: problems.map(formatProblem) }))
  })

/**
 * Loads and validates a jetscale config file. Fails with a {@link ConfigLoadError} whose
 * `problems` list every problem found (`queues.demo.maxReplicas: expected ...`).
 */
export const loadConfig = (path: string, env: Env = process.env): Effect.Effect<JetscaleConfig, ConfigLoadError> =>
  Effect.gen(function*() {
    const text = yield* Effect.tryPromise({ try: () => readFile(path, "utf8"), catch: (cause) => readError(path, cause) })
    const yaml = commonJs(yield* Effect.promise(() => import("yaml")))
    const raw = yield* Effect.fromResult(parseYaml(yaml, text, path))
    return yield* Effect.fromResult(decodeConfigResult(raw, env, path))
  }).pipe(Effect.withSpan("config.load", { attributes: { "config.file": path } }))
