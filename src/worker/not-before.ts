// When a job may run, from its `Jetscale-Not-Before` header (RFC 3339, or ms since the epoch): now,
// or later (then the worker moves it to the delayed stream, see ./delayed.ts). A value that can't be
// read, or is more than 366 days ahead, does not hold a job back: it runs now, and the worker says so.
import { maxDelayMs, parseNotBefore } from "../delay/not-before.ts"

/** A time up to this far ahead runs now: not worth a round trip through the delayed stream. */
export const notBeforeGraceMs = 1000

export type NotBefore =
  | { readonly _tag: "now" }
  | { readonly _tag: "later"; readonly atMs: number }
  | { readonly _tag: "invalid"; readonly reason: string }


/** The header's verdict at `nowMs`; an absent or empty header means now. */
export const notBefore = (value: string | undefined, nowMs: number): NotBefore => {
  if (value === undefined || value === "") return { _tag: "now" }
  const atMs = value.length > 64 ? undefined : parseNotBefore(value)
  if (atMs === undefined) return { _tag: "invalid", reason: "expected an RFC 3339 time or ms since the epoch" }
  if (atMs - nowMs > maxDelayMs) return { _tag: "invalid", reason: "more than 366 days ahead" }
  return atMs - nowMs > notBeforeGraceMs ? { _tag: "later", atMs } : { _tag: "now" }
}
