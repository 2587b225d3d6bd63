// What a simulation run comes to: the per-policy figures (waits, cost, scale changes, wakes) and
// their table.
import type { SimResult } from "./engine.ts"

export interface Summary {
  readonly policy: string
  readonly waitP50Ms: number | null
  readonly waitP99Ms: number | null
  /** Cost: replicas that existed (starting, ready or draining) times seconds. */
  readonly replicaSeconds: number
  readonly changesPerHour: number
  readonly wakes: number
  readonly wakeMeanMs: number | null
  readonly wakeMaxMs: number | null
  readonly done: number
  readonly left: number
}

/** Nearest-rank percentile of `values` (0 < p <= 100); null when empty. */
export const percentile = (values: Float64Array, p: number): number | null => {
  if (values.length === 0) return null
  const sorted = Float64Array.from(values).sort()
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

export const summarize = (r: SimResult): Summary => ({
  policy: r.policy,
  waitP50Ms: percentile(r.waitsMs, 50),
  waitP99Ms: percentile(r.waitsMs, 99),
  replicaSeconds: Math.round(r.replicaMs / 1000),
  changesPerHour: Math.round((r.changes.length / (r.durationMs / 3_600_000)) * 10) / 10,
  wakes: r.wakesMs.length,
  wakeMeanMs: r.wakesMs.length === 0 ? null : r.wakesMs.reduce((a, b) => a + b, 0) / r.wakesMs.length,
  wakeMaxMs: r.wakesMs.length === 0 ? null : Math.max(...r.wakesMs),
  done: r.done,
  left: r.left
})

/** Scale changes in each whole minute of the run. */
export const changesPerMinute = (r: SimResult): ReadonlyArray<number> => {
  const counts = new Array<number>(Math.floor(r.durationMs / 60_000)).fill(0)
  for (const c of r.changes) {
    const m = Math.floor(c.atMs / 60_000)
    if (m < counts.length) counts[m]!++
  }
  return counts
}

/** Changes of direction (an up after a down, or a down after an up) in each whole minute of the run. */
export const reversalsPerMinute = (r: SimResult): ReadonlyArray<number> => {
  const counts = new Array<number>(Math.floor(r.durationMs / 60_000)).fill(0)
  let direction = 0
  for (const c of r.changes) {
    const d = Math.sign(c.to - c.from)
    const m = Math.floor(c.atMs / 60_000)
    if (direction !== 0 && d !== direction && m < counts.length) counts[m]!++
    direction = d
  }
  return counts
}

const seconds = (ms: number | null): string => (ms === null ? "–" : ms < 10_000 ? `${(ms / 1000).toFixed(2)} s` : `${(ms / 1000).toFixed(1)} s`)

/** The summaries as a markdown table. */
export const markdownTable = (rows: ReadonlyArray<Summary>): string => {
  const header = ["policy", "wait p50", "wait p99", "replica-seconds", "scale changes/h", "first job from zero: mean / max (wakes)", "jobs done", "left"]
  const lines = rows.map((s) => [
    s.policy,
    seconds(s.waitP50Ms),
    seconds(s.waitP99Ms),
    String(s.replicaSeconds),
    String(s.changesPerHour),
    s.wakes === 0 ? "– (0)" : `${seconds(s.wakeMeanMs)} / ${seconds(s.wakeMaxMs)} (${s.wakes})`,
    String(s.done),
    String(s.left)
  ])
  const row = (cells: ReadonlyArray<string>) => `| ${cells.join(" | ")} |`
  return [row(header), row(header.map((h, i) => (i === 0 ? "---" : "---:"))), ...lines.map(row)].join("\n")
}
