// Config errors: the one tagged error of the config boundary (`ConfigLoadError`), the
// `path: reason` problem lines it carries, and the conversion of Schema issues into them.
// Deep imports: the worker SDK uses this module, and the `effect` barrel costs its start time.
import * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"
import * as SchemaIssue from "effect/SchemaIssue"

/** `queues.demo.backoff[1]` as data: keys and array indices. */
export type ProblemPath = ReadonlyArray<string | number>

/** One thing wrong with a config file: where, and why. */
export interface ConfigProblem {
  readonly path: ProblemPath
  readonly message: string
}

/** Why a config could not be loaded. `unreadable` covers read errors other than "not found". */
export const ConfigLoadErrorKind = Schema.Literals(["missing-file", "unreadable", "bad-yaml", "invalid"])
export type ConfigLoadErrorKind = typeof ConfigLoadErrorKind.Type

/**
 * The config could not be loaded. `problems` holds one printable line per problem (for
 * `invalid`, `path: reason` lines in file order; otherwise a single line) and `message` is the
 * whole report, so a logged error reads well on its own.
 */
export class ConfigLoadError extends Schema.TaggedError<ConfigLoadError>()("ConfigLoadError", {
  kind: ConfigLoadErrorKind,
  file: Schema.optionalKey(Schema.String),
  problems: Schema.Array(Schema.String),
  message: Schema.String,
  cause: Schema.optionalKey(Schema.Unknown)
}) {}

/** Builds a {@link ConfigLoadError}; the message is derived from the problems. */
export const makeConfigLoadError = (options: {
  readonly kind: ConfigLoadErrorKind
  readonly problems: ReadonlyArray<string>
  readonly file?: string | undefined
  readonly cause?: unknown
}): ConfigLoadError => {
  const { kind, problems, file } = options
  const message = kind === "invalid"
    ? [`${file === undefined ? "config" : `config file ${file}`} is invalid (${problems.length} ${problems.length === 1 ? "problem" : "problems"}):`, ...problems].join("\n")
    : problems.join("\n")
  return new ConfigLoadError({
    kind,
    problems: [...problems],
    message,
    ...(file === undefined ? {} : { file }),
    ...(options.cause === undefined ? {} : { cause: options.cause })
  })
}

/** The text to print for a config error: a header for `invalid`, then one line per problem. */
export const formatConfigError = (error: ConfigLoadError): string => error.message

// ---- paths and lines ------------------------------------------------------------------------

/** `["queues", "demo", "backoff", 1]` -> `queues.demo.backoff[1]`; odd keys are quoted. */
export const formatPath = (path: ProblemPath): string =>
  path.map((seg, i) =>
    typeof seg === "number"
      ? `[${seg}]`
      : /^[A-Za-z0-9_-]+$/.test(seg) ? (i === 0 ? seg : `.${seg}`) : `[${JSON.stringify(seg)}]`
  ).join("")

/** `path: message`, or just the message for a problem with the whole document. */
export const formatProblem = (p: ConfigProblem): string =>
  p.path.length === 0 ? p.message : `${formatPath(p.path)}: ${p.message}`

/** A YAML mapping as parsed: a non-null, non-array object. */
export const isPlainObject = (u: unknown): u is Record<string, unknown> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

/**
 * Sorts problems into the order their places appear in `raw` (the parsed file); places that are
 * absent from it (a missing required key) come after their present siblings. Stable.
 */
export const sortProblems = (problems: ReadonlyArray<ConfigProblem>, raw: unknown): ReadonlyArray<ConfigProblem> => {
  const rank = (path: ProblemPath): ReadonlyArray<number> => {
    const out: Array<number> = []
    let node = raw
    for (const seg of path) {
      if (typeof seg === "number") out.push(seg)
      else {
        const i = isPlainObject(node) ? Object.keys(node).indexOf(seg) : -1
        out.push(i < 0 ? Number.MAX_SAFE_INTEGER : i)
      }
      node = isPlainObject(node) || Array.isArray(node) ? (node as Record<string | number, unknown>)[seg] : undefined
    }
    return out
  }
  const compare = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!
    return a.length - b.length
  }
  return problems.map((p) => ({ p, r: rank(p.path) })).sort((x, y) => compare(x.r, y.r)).map((x) => x.p)
}

// ---- Schema issues -> problems --------------------------------------------------------------

/** How a value from the file is shown after "got": strings quoted, containers by kind. */
export const describeInput = (u: unknown): string =>
  typeof u === "string" ? JSON.stringify(u)
  : Array.isArray(u) ? "a list"
  : isPlainObject(u) ? "a mapping"
  : String(u)

const joinOr = (xs: ReadonlyArray<string>): string =>
  xs.length <= 1 ? (xs[0] ?? "") : `${xs.slice(0, -1).join(", ")} or ${xs[xs.length - 1]}`

/** What a schema node accepts, in words (`a string`, `"docker" or "process"`). */
const describeAst = (ast: SchemaAST.AST): string => {
  const expected = ast.annotations?.["expected"]
  if (typeof expected === "string") return expected
  switch (ast._tag) {
    case "String": return "a string"
    case "Number": return "a number"
    case "Boolean": return "a boolean"
    case "Arrays": return "a list"
    case "Objects": return "a mapping"
    case "Literal": return JSON.stringify(ast.literal)
    case "Union": return joinOr(ast.types.map(describeAst))
    case "Null": return "null"
    default: return "a valid value"
  }
}

/** Levenshtein distance, for "did you mean" suggestions. */
const editDistance = (a: string, b: string): number => {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    prev = row
  }
  return prev[b.length]!
}

/** The closest known key to `key`, if it is close enough to be a likely typo. */
export const suggestKey = (key: string, known: ReadonlyArray<string>): string | undefined => {
  let best: { name: string; d: number } | undefined
  for (const name of known) {
    const d = editDistance(key.toLowerCase(), name.toLowerCase())
    if (best === undefined || d < best.d) best = { name, d }
  }
  return best !== undefined && best.d <= Math.max(2, Math.floor(key.length / 3)) ? best.name : undefined
}

const unknownKeyMessage = (ast: SchemaAST.AST, key: string | number | undefined): string => {
  const known = ast._tag === "Objects" ? ast.propertySignatures.map((p) => String(p.name)) : []
  if (key === "password" || key === "workerPassword") {
    return `unknown key: passwords are read only from the environment (${key === "password" ? "NATS_PASSWORD" : "JETSCALE_WORKER_PASSWORD"})`
  }
  const suggestion = typeof key === "string" ? suggestKey(key, known) : undefined
  return suggestion === undefined ? "unknown key" : `unknown key (did you mean ${suggestion}?)`
}

const got = (issue: SchemaIssue.Issue): string => SchemaIssue.hasInput(issue) ? `, got ${describeInput(issue.input)}` : ""

const customMessage = (issue: SchemaIssue.Issue): string | undefined => {
  const annotations = "annotations" in issue ? issue.annotations : undefined
  const message = annotations?.["message"]
  return typeof message === "string" ? message : undefined
}

/** Flattens a Schema issue tree into problems; decode with `reportInput: true` to get "got ...". */
export const issueProblems = (root: SchemaIssue.Issue): ReadonlyArray<ConfigProblem> => {
  const out: Array<ConfigProblem> = []
  const walk = (issue: SchemaIssue.Issue, path: ProblemPath): void => {
    const push = (message: string): void => {
      out.push({ path, message })
    }
    switch (issue._tag) {
      case "Pointer":
        return walk(issue.issue, [...path, ...issue.path.map((k) => (typeof k === "number" ? k : String(k)))])
      case "Composite":
        return issue.issues.forEach((i) => walk(i, path))
      case "AnyOf":
        if (issue.issues.length > 0) return issue.issues.forEach((i) => walk(i, path))
        return push(`expected ${describeAst(issue.ast)}${got(issue)}`)
      case "Encoding":
        return walk(issue.issue, path)
      case "Filter": {
        const expected = issue.filter.annotations?.expected
        return push(
          customMessage(issue.issue) ?? issue.filter.annotations?.message ??
            `expected ${typeof expected === "string" ? expected : "a valid value"}${got(issue)}`
        )
      }
      case "InvalidType":
        return push(`expected ${describeAst(issue.ast)}${got(issue)}`)
      case "InvalidValue":
        return push(customMessage(issue) ?? `invalid value${got(issue)}`)
      case "MissingKey":
        return push("required")
      case "UnexpectedKey":
        return push(unknownKeyMessage(issue.ast, path[path.length - 1]))
      case "Forbidden":
        return push(customMessage(issue) ?? "not allowed here")
      case "OneOf":
        return push(`ambiguous value${got(issue)}`)
    }
  }
  walk(root, [])
  return out
}
