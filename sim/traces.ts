// Load traces: arrival rate (jobs/s) as a function of simulated time. Built-in shapes (step, ramp,
// sine, burst) and a CSV file of `t_seconds,rate` rows (the rate holds until the next row).
import { formatMillis, parseMillis } from "./duration.ts"

export interface Trace {
  /** For titles and tables: `ramp`, `sine:60s`, `load.csv`. */
  readonly name: string
  /** Arrival rate in jobs/s at `t` seconds. */
  readonly rateAt: (t: number) => number
}

/** Bounds of a CSV trace. */
export const CSV_MAX_ROWS = 100_000
export const MAX_RATE = 10_000
export const CSV_MAX_BYTES = 10_000_000

const MIN = 60

/** 0 -> 20/s at 10 min, back to 0 at 40 min. */
export const step: Trace = { name: "step", rateAt: (t) => (t >= 10 * MIN && t < 40 * MIN ? 20 : 0) }

/** 0 -> 40/s linearly over 30 min, then linearly back to 0 at 60 min. */
export const ramp: Trace = {
  name: "ramp",
  rateAt: (t) => (t < 0 || t >= 60 * MIN ? 0 : t < 30 * MIN ? (40 * t) / (30 * MIN) : (40 * (60 * MIN - t)) / (30 * MIN))
}

/** Mean 10/s, amplitude 10/s, one period every `periodS` seconds (60 s by default). */
export const sine = (periodS = 60): Trace => ({
  name: `sine:${formatMillis(periodS * 1000)}`,
  rateAt: (t) => 10 + 10 * Math.sin((2 * Math.PI * t) / periodS)
})

/** Idle, then about 2,000 jobs within 5 s (400/s) at 5 min and every 15 min after. */
export const burst: Trace = {
  name: "burst",
  rateAt: (t) => (t >= 5 * MIN && (t - 5 * MIN) % (15 * MIN) < 5 ? 400 : 0)
}

export const builtInTraces = ["step", "ramp", "sine", "sine:<period>", "burst"] as const

/** A CSV trace from its text; `source` names the file in errors (`load.csv:3: ...`). */
export const parseCsvTrace = (text: string, source: string): Trace | string => {
  if (text.length > CSV_MAX_BYTES) return `${source}: larger than ${CSV_MAX_BYTES} bytes`
  const times: Array<number> = []
  const rates: Array<number> = []
  const lines = text.split("\n")
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, "").trim()
    const at = `${source}:${i + 1}`
    if (line === "" || line.startsWith("#")) continue
    if (times.length === 0 && /^t_seconds\s*,\s*rate$/i.test(line)) continue
    const fields = line.split(",").map((f) => f.trim())
    if (fields.length !== 2 || fields.some((f) => f === "" || !Number.isFinite(Number(f)))) {
      return `${at}: expected "t_seconds,rate" (two numbers), got ${JSON.stringify(line.slice(0, 80))}`
    }
    const [t, rate] = fields.map(Number) as [number, number]
    if (t < 0) return `${at}: t_seconds must be >= 0, got ${t}`
    const prev = times.at(-1)
    if (prev !== undefined && t <= prev) return `${at}: t_seconds must increase, got ${t} after ${prev}`
    if (rate < 0 || rate > MAX_RATE) return `${at}: rate must be within 0..${MAX_RATE} jobs/s, got ${rate}`
    if (times.length >= CSV_MAX_ROWS) return `${at}: more than ${CSV_MAX_ROWS} rows`
    times.push(t)
    rates.push(rate)
  }
  if (times.length === 0) return `${source}: no rows (expected lines of "t_seconds,rate")`
  return {
    name: source.split("/").at(-1)!,
    rateAt: (t) => {
      // the last row at or before t (binary search); before the first row the rate is 0
      let lo = 0
      let hi = times.length - 1
      if (t < times[0]!) return 0
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1
        if (times[mid]! <= t) lo = mid
        else hi = mid - 1
      }
      return rates[lo]!
    }
  }
}

/** `--trace` value -> a trace; a `.csv` path is read with `readText`. */
export const parseTrace = (spec: string, readText: (path: string) => string): Trace | string => {
  if (spec === "step") return step
  if (spec === "ramp") return ramp
  if (spec === "burst") return burst
  if (spec === "sine") return sine()
  if (spec.startsWith("sine:")) {
    const ms = parseMillis(spec.slice(5))
    if (ms === undefined || ms < 1000 || ms > 86_400_000) return `--trace: sine period must be a duration within 1s..24h (e.g. sine:60s), got ${JSON.stringify(spec.slice(5))}`
    return sine(ms / 1000)
  }
  if (spec.toLowerCase().endsWith(".csv")) {
    let text: string
    try {
      text = readText(spec)
    } catch (e) {
      return `--trace: cannot read ${spec}: ${e instanceof Error ? e.message : String(e)}`
    }
    return parseCsvTrace(text, spec)
  }
  return `--trace: expected one of ${builtInTraces.join(", ")} or a .csv file of "t_seconds,rate" rows, got ${JSON.stringify(spec)}`
}
