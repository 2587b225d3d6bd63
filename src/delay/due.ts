// When a job asked to wait (`--delay`/`--at` of the CLI, `delay`/`at` of the job route) is due,
// checked and bounded, pure. A time at most a minute in the past means "now" (clocks differ a little);
// anything further back, or more than 366 days ahead, is refused.
import { shortDurationMillis } from "../config/duration.ts"
import { formatInstant, maxDelayMs, parseNotBefore } from "./not-before.ts"

/** An `at` this far in the past still runs (at once); further back is refused as a mistake. */
export const pastGraceMs = 60_000


/** `10m`, `1.5h`, `2d`, `250ms`, or a whole number of ms (`600000`): the ms, or why not. */
export const parseDelay = (text: string): number | string => {
  const t = text.trim()
  const short = shortDurationMillis(t)
  const ms = /^\d{1,15}$/.test(t) ? Number(t) : short === undefined ? undefined : Math.round(short)
  if (ms === undefined) return `invalid duration ${JSON.stringify(text.slice(0, 40))} (use 30s, 10m, 1h, 2d, or ms)`
  if (ms <= 0) return `expected a duration > 0, got ${JSON.stringify(text)}`
  if (ms > maxDelayMs) return `expected at most 366d, got ${JSON.stringify(text)}`
  return ms
}

export interface Timing {
  /** A duration (`10m`) or, from JSON, a number of ms. */
  readonly delay?: string | number | undefined
  /** RFC 3339 (`2026-12-01T18:00:00Z`). */
  readonly at?: string | undefined
}

/** How the fields are named where they came from (`--delay`, or `delay`). */
export interface TimingNames {
  readonly delay: string
  readonly at: string
}

/**
 * The due time in ms since the epoch, `undefined` for "now" (no timing, or an `at` within the last
 * minute), or a message naming the field that is wrong.
 */
export const dueTime = (t: Timing, now: number, names: TimingNames): { readonly due: number | undefined } | { readonly problem: string } => {
  if (t.delay !== undefined && t.at !== undefined) return { problem: `${names.delay} and ${names.at}: give one of them, not both` }
  if (t.delay !== undefined) {
    const ms = typeof t.delay === "number"
      ? (Number.isSafeInteger(t.delay) && t.delay > 0 && t.delay <= maxDelayMs ? t.delay : `expected ms from 1 to ${maxDelayMs} (366d), got ${t.delay}`)
      : parseDelay(t.delay)
    return typeof ms === "string" ? { problem: `${names.delay}: ${ms}` } : { due: now + ms }
  }
  if (t.at !== undefined) {
    const at = /^\d+$/.test(t.at.trim()) ? undefined : parseNotBefore(t.at)
    if (at === undefined) return { problem: `${names.at}: expected an RFC 3339 time like 2026-12-01T18:00:00Z, got ${JSON.stringify(t.at.slice(0, 40))}` }
    if (at < now - pastGraceMs) return { problem: `${names.at}: ${formatInstant(at)} is more than a minute in the past (now ${formatInstant(now)})` }
    if (at > now + maxDelayMs) return { problem: `${names.at}: ${formatInstant(at)} is more than 366 days ahead` }
    return { due: at > now ? at : undefined }
  }
  return { due: undefined }
}
