// Delayed jobs, pure: the `Jetscale-Not-Before` header (RFC 3339, or ms since the epoch), what the
// releaser does with a message (release now, or wait), and where a released job goes. No Effect here,
// so the worker SDK can use it.
import { subjectCaptures, subjectProblem } from "../config/subjects.ts"

/** `2026-12-01T18:00:00Z`, `2026-12-01T19:00:00.250+01:00` (RFC 3339: `T` or space, `Z` or an offset). */
const rfc3339 = /^\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d{1,9})?([Zz]|[+-]\d\d:\d\d)$/
/** Ms since the epoch: 1 to 15 digits (up to the year 33658). */
const epochMillis = /^\d{1,15}$/

/** The time `value` names, in ms since the epoch, or undefined when it is neither RFC 3339 nor ms. */
export const parseNotBefore = (value: string): number | undefined => {
  const v = value.trim()
  if (epochMillis.test(v)) return Number(v)
  if (!rfc3339.test(v)) return undefined
  const ms = Date.parse(v.replace(" ", "T").toUpperCase())
  return Number.isFinite(ms) ? ms : undefined
}

/** The longest a job may wait (`--delay`, `Jetscale-Not-Before`). */
export const maxDelayMs = 366 * 86_400_000

/** RFC 3339 in UTC, without `.000` when the time is a whole second: `2026-12-01T18:00:00Z`. */
export const formatInstant = (ms: number): string => new Date(ms).toISOString().replace(".000Z", "Z")

/** A message not due yet is put back for at most this long, then looked at again. */
export const maxWaitMs = 3600_000

export type ReleaseStep =
  | { readonly _tag: "release" }
  | { readonly _tag: "wait"; readonly ms: number }
  /** The header is there but names no time: the job is released now (and that is logged). */
  | { readonly _tag: "release-unparsable"; readonly value: string }

/** What to do with a delayed message whose header is `header` (undefined: absent) at `now`. */
export const releaseStep = (header: string | undefined, now: number): ReleaseStep => {
  if (header === undefined || header === "") return { _tag: "release" }
  const due = parseNotBefore(header)
  if (due === undefined) return { _tag: "release-unparsable", value: header.slice(0, 100) }
  if (due <= now) return { _tag: "release" }
  return { _tag: "wait", ms: Math.min(due - now, maxWaitMs) }
}

const literal = (s: string) => subjectProblem(s) === undefined && !s.split(".").some((t) => t === "*" || t === ">")

/**
 * The subject a released job is published to: the one it was meant for (`wanted`, the
 * `Jetscale-Subject` header) when the queue captures it, else the queue's first literal subject;
 * undefined when the queue has none (only wildcards) and nothing says which.
 */
export const releaseSubject = (subjects: ReadonlyArray<string>, wanted: string | undefined): string | undefined =>
  wanted !== undefined && subjects.some((s) => subjectCaptures(s, wanted)) ? wanted : subjects.find(literal)
