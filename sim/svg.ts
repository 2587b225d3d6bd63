// The chart of a simulation as one self-contained SVG (no fonts, scripts or links; a white
// background so it reads in GitHub's dark mode too): the load (arrivals/s) on top, then one panel
// per policy with its replicas (colored, left axis) and its backlog (gray, right axis). Every
// policy panel shares the same two scales, so panels compare at a glance.
import type { SimResult } from "./engine.ts"

const WIDTH = 960
const LEFT = 64
const RIGHT = 64
const LOAD_H = 120
const POLICY_H = 110
const GAP = 46
const LEGEND_PER_ROW = 5
const MAX_POINTS = 720
const GRID = 5
export const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
const GRAY = "#888"

const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

/** A round axis maximum at or above `v` (1, 2, 2.5, 5 times a power of ten): its fifths are round too. */
const niceMax = (v: number): number => {
  if (!(v > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  return ([1, 2, 2.5, 5, 10].find((m) => m * p >= v - 1e-9) ?? 10) * p
}

/** `values` (one per second) reduced to buckets of `size` seconds by `reduce`. */
const buckets = (values: Float64Array, size: number, reduce: "mean" | "max"): Array<number> => {
  const out: Array<number> = []
  for (let i = 0; i < values.length; i += size) {
    const part = values.subarray(i, Math.min(values.length, i + size))
    out.push(reduce === "max" ? part.reduce((a, b) => Math.max(a, b), 0) : part.reduce((a, b) => a + b, 0) / part.length)
  }
  return out
}

interface Axis {
  readonly max: number
  readonly color: string
  readonly series: ReadonlyArray<number>
}

interface Frame {
  readonly y0: number
  readonly height: number
  readonly bucketS: number
  readonly totalS: number
}

const num = (v: number) => String(Number(v.toFixed(2)))

/** One panel: a frame, time ticks, a left axis with its line and an optional right axis with its line. */
const panelSvg = (title: string, f: Frame, left: Axis, right?: Axis): string => {
  const plotW = WIDTH - LEFT - RIGHT
  const x = (s: number) => LEFT + (s / f.totalS) * plotW
  const y = (v: number, max: number) => f.y0 + f.height - (v / max) * f.height
  const parts = [`<text x="${LEFT}" y="${f.y0 - 8}" font-weight="bold">${esc(title)}</text>`]
  for (let i = 0; i <= GRID; i++) {
    const at = y(i, GRID).toFixed(1)
    parts.push(`<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${at}" y2="${at}" stroke="#e4e4e4"/>`)
    parts.push(`<text x="${LEFT - 6}" y="${(Number(at) + 4).toFixed(1)}" text-anchor="end" fill="${left.color}">${num((left.max * i) / GRID)}</text>`)
    if (right) parts.push(`<text x="${WIDTH - RIGHT + 6}" y="${(Number(at) + 4).toFixed(1)}" fill="${right.color}">${num((right.max * i) / GRID)}</text>`)
  }
  const minutes = f.totalS / 60
  const tick = [1, 2, 5, 10, 15, 30, 60, 120, 240].find((m) => minutes / m <= 12) ?? 480
  for (let m = 0; m <= minutes + 1e-9; m += tick) {
    const at = x(m * 60).toFixed(1)
    parts.push(`<line x1="${at}" x2="${at}" y1="${f.y0 + f.height}" y2="${f.y0 + f.height + 4}" stroke="#333"/>`)
    parts.push(`<text x="${at}" y="${f.y0 + f.height + 16}" text-anchor="middle">${m} min</text>`)
  }
  parts.push(`<rect x="${LEFT}" y="${f.y0}" width="${plotW}" height="${f.height}" fill="none" stroke="#333"/>`)
  const line = (a: Axis, width: number) => {
    const points = a.series.map((v, i) => `${x((i + 0.5) * f.bucketS).toFixed(1)},${y(v, a.max).toFixed(1)}`).join(" ")
    return `<polyline fill="none" stroke="${a.color}" stroke-width="${width}" stroke-linejoin="round" points="${points}"/>`
  }
  if (right) parts.push(line(right, 1))
  parts.push(line(left, 1.6))
  return parts.join("\n")
}

/** The chart of `results` (all of the same workload); `title` names the run. */
export const chartSvg = (results: ReadonlyArray<SimResult>, title: string): string => {
  const first = results[0]
  if (first === undefined) throw new Error("chartSvg: no results")
  const totalS = first.samples.arrivals.length
  const bucketS = Math.max(1, Math.ceil(totalS / MAX_POINTS))
  const color = (i: number) => COLORS[i % COLORS.length]!
  const replicas = results.map((r) => buckets(r.samples.replicas, bucketS, "max"))
  const backlog = results.map((r) => buckets(r.samples.backlog, bucketS, "max"))
  const load = buckets(first.samples.arrivals, bucketS, "mean")
  const replicaMax = niceMax(Math.max(1, ...replicas.flat()))
  const backlogMax = niceMax(Math.max(1, ...backlog.flat()))
  const legendRows = Math.ceil(results.length / LEGEND_PER_ROW)
  const top = 40 + legendRows * 18 + 20
  const height = top + LOAD_H + GAP + results.length * (POLICY_H + GAP)
  const legend = results.map((r, i) => {
    const lx = LEFT + (i % LEGEND_PER_ROW) * 170
    const ly = 40 + Math.floor(i / LEGEND_PER_ROW) * 18
    return `<rect x="${lx}" y="${ly}" width="16" height="4" fill="${color(i)}"/><text x="${lx + 22}" y="${ly + 6}">${esc(r.policy)}</text>`
  })
  const per = bucketS === 1 ? "per second" : `max per ${bucketS} s`
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12" fill="#222">`,
    `<rect width="${WIDTH}" height="${height}" fill="#fff"/>`,
    `<text x="${LEFT}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
    ...legend,
    panelSvg(`load: arrivals/s${bucketS === 1 ? "" : ` (mean per ${bucketS} s)`}`, { y0: top, height: LOAD_H, bucketS, totalS }, { max: niceMax(Math.max(1, ...load)), color: "#444", series: load }),
    ...results.map((r, i) =>
      panelSvg(
        `${r.policy}: replicas (left, ${per}) and backlog, jobs waiting or running (right, gray)`,
        { y0: top + LOAD_H + GAP + i * (POLICY_H + GAP), height: POLICY_H, bucketS, totalS },
        { max: replicaMax, color: color(i), series: replicas[i]! },
        { max: backlogMax, color: GRAY, series: backlog[i]! }
      )
    ),
    "</svg>",
    ""
  ].join("\n")
}
