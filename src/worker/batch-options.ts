// The `batch` option of a worker, checked: how many jobs a batch holds at most, and how long a batch
// waits for more after its first job.
import { WorkerSettingsError } from "./settings.ts"

export interface BatchOptions {
  /** Most jobs in one batch: 1 to 10000. */
  readonly size: number
  /** How long after its first job a batch waits for more: `"1s"`, `"250ms"`, `"2m"`, or ms; 1 ms to 5 min. */
  readonly timeout: string | number
}

export interface BatchLimits {
  readonly size: number
  readonly timeoutMs: number
}

export const batchBounds = { maxSize: 10_000, minTimeoutMs: 1, maxTimeoutMs: 300_000 } as const

const unitMs = { ms: 1, s: 1000, m: 60_000 } as const

const timeoutMsOf = (t: unknown): number | undefined => {
  if (typeof t === "number") return t
  if (typeof t !== "string" || t.length > 32) return undefined
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)\s*$/.exec(t)
  return m ? Number(m[1]) * unitMs[m[2] as keyof typeof unitMs] : undefined
}

/** Checks `batch`; the error names `batch.size` or `batch.timeout`. */
export const batchLimits = (batch: BatchOptions): BatchLimits => {
  const { size, timeout } = batch as { readonly size: unknown; readonly timeout: unknown }
  if (typeof size !== "number" || !Number.isInteger(size) || size < 1 || size > batchBounds.maxSize) {
    throw new WorkerSettingsError(`batch.size: expected a whole number from 1 to ${batchBounds.maxSize}, got ${JSON.stringify(size)}`)
  }
  const ms = timeoutMsOf(timeout)
  if (ms === undefined || !Number.isFinite(ms) || ms < batchBounds.minTimeoutMs || ms > batchBounds.maxTimeoutMs) {
    throw new WorkerSettingsError(`batch.timeout: expected a duration from 1ms to 5m ("250ms", "1s", "2m") or a number of ms, got ${JSON.stringify(typeof timeout === "string" ? timeout.slice(0, 32) : timeout)}`)
  }
  return { size, timeoutMs: Math.round(Math.max(1, ms)) }
}
