// How long each simulated job runs: `fixed:2s`, `exp:2s` (exponential, mean 2 s) or
// `lognormal:2s,0.5` (mean 2 s, sigma 0.5 of the underlying normal; the default).
import { formatMillis, parseMillis } from "./duration.ts"
import { exponential, normal, type Random } from "./random.ts"

export type JobDistribution =
  | { readonly _tag: "fixed"; readonly meanMs: number }
  | { readonly _tag: "exp"; readonly meanMs: number }
  | { readonly _tag: "lognormal"; readonly meanMs: number; readonly sigma: number }

export const defaultJobs: JobDistribution = { _tag: "lognormal", meanMs: 2000, sigma: 0.5 }

/** Bounds of a job's mean run time and of one drawn run time. */
const MIN_MS = 1
const MAX_MS = 3_600_000

/** `fixed:2s|exp:2s|lognormal:2s[,sigma]` -> a distribution, or a message naming the problem. */
export const parseJobs = (text: string): JobDistribution | string => {
  const bad = `--job: expected fixed:<duration>, exp:<duration> or lognormal:<duration>[,<sigma>] (e.g. lognormal:2s,0.5), got ${JSON.stringify(text)}`
  const m = /^(fixed|exp|lognormal):([^,]+)(?:,(.+))?$/.exec(text.trim())
  if (!m) return bad
  const meanMs = parseMillis(m[2]!)
  if (meanMs === undefined) return `--job: invalid duration ${JSON.stringify(m[2])} (use 2s, 500ms)`
  if (meanMs < MIN_MS || meanMs > MAX_MS) return `--job: mean run time must be within 1ms..1h, got ${m[2]}`
  const kind = m[1] as JobDistribution["_tag"]
  if (kind !== "lognormal") return m[3] === undefined ? { _tag: kind, meanMs } : bad
  const sigma = m[3] === undefined ? defaultJobs.sigma : Number(m[3])
  if (!(Number.isFinite(sigma) && sigma >= 0 && sigma <= 3)) return `--job: lognormal sigma must be a number in [0, 3], got ${m[3]}`
  return { _tag: kind, meanMs, sigma }
}

export const formatJobs = (d: JobDistribution): string =>
  d._tag === "lognormal" ? `lognormal:${formatMillis(d.meanMs)},${d.sigma}` : `${d._tag}:${formatMillis(d.meanMs)}`

/** One job's run time in ms, within [1ms, 1h]. */
export const drawJobMs = (d: JobDistribution, r: Random): number => {
  const ms = d._tag === "fixed"
    ? d.meanMs
    : d._tag === "exp"
    ? exponential(r, d.meanMs)
    : Math.exp(Math.log(d.meanMs) - (d.sigma * d.sigma) / 2 + d.sigma * normal(r))
  return Math.min(MAX_MS, Math.max(MIN_MS, ms))
}
