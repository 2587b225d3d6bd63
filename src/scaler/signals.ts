// The scaling signals (pure): each turns what the scaler measured into a fractional desired
// replica count with its explanation, and an EWMA smooths them. ./policy.ts takes the largest.
import { Duration } from "effect"
import type { SignalName } from "../config/model.ts"

/** What the scaler measured at this step. A plain number (the old API) means { pending: n, ackPending: 0 }. */
export interface Observation {
  /** num_pending: jobs not yet delivered. */
  readonly pending: number
  /** num_ack_pending: delivered, not acked (in flight, NAK-delayed, or lost with a crashed worker). */
  readonly ackPending: number
  /** Age of the oldest job not yet delivered; undefined = none waiting / unknown. */
  readonly oldestWaitMs?: number
  /** Jobs running on the running replicas (workers' reports); default: ackPending. */
  readonly inFlight?: number
  /** Jobs/s entering the queue lately; undefined = unknown. */
  readonly arrivalPerSec?: number
  /** Mean job run time from the workers' reports; undefined = unknown. */
  readonly meanJobMs?: number
}

/** The settings the signals read (defaults already applied, all positive). */
export interface SignalSettings {
  readonly targetPending: number
  readonly targetWaitMs: number
  readonly scaleUpAt: number
  readonly scaleDownAt: number
  readonly concurrency: number
}

export interface SignalValue {
  /** Fractional desired replica count (>= 0). */
  readonly value: number
  readonly why: string
}

export type SignalValues = Partial<Record<SignalName, number>>

/** EWMA memory: the smoothed value per signal and when it was last updated. */
export interface Smoothed {
  readonly at: number
  readonly values: SignalValues
}

/** A count from outside: NaN or negative (a caller bug) is 0. */
const count = (n: number): number => (Number.isNaN(n) || n < 0 ? 0 : n)
const optional = (n: number | undefined): number | undefined => (n === undefined || Number.isNaN(n) ? undefined : Math.max(0, n))

/** A plain number is `{ pending: n, ackPending: 0 }`; bad numbers are clamped (see `count`). */
export const normalizeObservation = (o: number | Observation): Observation => {
  if (typeof o === "number") return { pending: count(o), ackPending: 0 }
  const oldestWaitMs = optional(o.oldestWaitMs)
  const inFlight = optional(o.inFlight)
  const arrivalPerSec = optional(o.arrivalPerSec)
  const meanJobMs = optional(o.meanJobMs)
  return {
    pending: count(o.pending),
    ackPending: count(o.ackPending),
    ...(oldestWaitMs === undefined ? {} : { oldestWaitMs }),
    ...(inFlight === undefined ? {} : { inFlight }),
    ...(arrivalPerSec === undefined ? {} : { arrivalPerSec }),
    ...(meanJobMs === undefined ? {} : { meanJobMs })
  }
}

/** The backlog: every job not yet acked. */
export const backlogOf = (o: Observation): number => o.pending + o.ackPending

/** A number for reasons: at most two decimals. */
export const fmtNum = (x: number): string => (Number.isInteger(x) || !Number.isFinite(x) ? String(x) : String(Math.round(x * 100) / 100))
const fmtMs = (ms: number): string => Duration.format(Duration.millis(Math.round(ms)))
const pct = (u: number): string => `${Math.round(u * 100)}%`

/** ceil with a tiny tolerance, so float noise (4.0000000001) does not add a replica. */
export const ceilCount = (x: number): number => Math.max(0, Math.ceil(x - 1e-9))

/** Never below what carries the jobs running now: fewer replicas would only drain busy ones and make new jobs wait. */
const backlog = (o: Observation, s: SignalSettings): SignalValue => {
  const b = backlogOf(o)
  const value = b / s.targetPending
  const why = `backlog ${b} / targetPending ${s.targetPending} = ${fmtNum(value)}`
  const inFlight = o.inFlight ?? 0
  const carry = inFlight / s.concurrency
  return value >= carry ? { value, why } : { value: carry, why: `${why}, below ${inFlight} in flight / concurrency ${s.concurrency} = ${fmtNum(carry)}` }
}

const waitTime = (o: Observation, current: number, s: SignalSettings): SignalValue => {
  const inFlight = o.inFlight ?? o.ackPending
  const carry = inFlight / s.concurrency
  const carryWhy = `${inFlight} in flight / concurrency ${s.concurrency} = ${fmtNum(carry)}`
  const oldest = o.oldestWaitMs ?? 0
  if (oldest <= 0) {
    return inFlight > 0
      ? { value: carry, why: `waitTime: none waiting; ${carryWhy}` }
      : { value: 0, why: `waitTime: none waiting or running = 0` }
  }
  const running = Math.max(current, 1)
  const value = (running * oldest) / s.targetWaitMs
  const why = `waitTime: oldest ${fmtMs(oldest)} / targetWait ${fmtMs(s.targetWaitMs)} x ${running} running = ${fmtNum(value)}`
  return value >= carry ? { value, why } : { value: carry, why: `${why}, below ${carryWhy}` }
}

const utilization = (o: Observation, current: number, s: SignalSettings): SignalValue => {
  if (current <= 0) return { value: 0, why: `utilization: no replicas = 0` }
  const inFlight = o.inFlight ?? o.ackPending
  const slots = current * s.concurrency
  const u = inFlight / slots
  const at = `utilization ${pct(u)} (${inFlight} of ${slots} slots)`
  const toTarget = inFlight / (s.concurrency * s.scaleUpAt)
  const toTargetWhy = `${inFlight} / (${s.concurrency} x ${s.scaleUpAt}) = ${fmtNum(toTarget)}`
  if (u > s.scaleUpAt) {
    const value = Math.max(toTarget, current + 1)
    return { value, why: `${at} > scaleUpAt ${pct(s.scaleUpAt)}: ${toTargetWhy}${toTarget < current + 1 ? `, at least ${current + 1}` : ""}` }
  }
  if (u >= s.scaleDownAt) {
    return { value: current, why: `${at} within scaleDownAt ${pct(s.scaleDownAt)}..scaleUpAt ${pct(s.scaleUpAt)} = ${current}` }
  }
  return { value: toTarget, why: `${at} < scaleDownAt ${pct(s.scaleDownAt)}: ${toTargetWhy}` }
}

const rate = (o: Observation, s: SignalSettings): SignalValue => {
  if (o.arrivalPerSec === undefined || o.meanJobMs === undefined) {
    const missing = o.arrivalPerSec === undefined ? "arrival rate" : "mean job time"
    return { value: 0, why: `rate: no ${missing} yet = 0` }
  }
  const value = (o.arrivalPerSec * o.meanJobMs) / 1000 / s.concurrency
  return {
    value,
    why: `rate: ${fmtNum(o.arrivalPerSec)}/s x mean job ${fmtMs(o.meanJobMs)} / concurrency ${s.concurrency} = ${fmtNum(value)}`
  }
}

/** One signal's desired count at `current` replicas. */
export const signalValue = (name: SignalName, o: Observation, current: number, s: SignalSettings): SignalValue => {
  switch (name) {
    case "backlog":
      return backlog(o, s)
    case "waitTime":
      return waitTime(o, current, s)
    case "utilization":
      return utilization(o, current, s)
    case "rate":
      return rate(o, s)
  }
}

/** The EWMA weight of a new sample `dtMs` after the last one: after one half-life, halfway. */
export const ewmaAlpha = (dtMs: number, halfLifeMs: number): number =>
  halfLifeMs <= 0 ? 1 : 1 - 2 ** (-Math.max(0, dtMs) / halfLifeMs)

/** Smooths each raw value against its previous smoothed value; a signal seen first takes its raw value. */
export const smooth = (prev: Smoothed | undefined, raw: SignalValues, halfLifeMs: number, now: number): Smoothed => {
  const a = prev === undefined ? 1 : ewmaAlpha(now - prev.at, halfLifeMs)
  const values: Partial<Record<SignalName, number>> = {}
  for (const [name, x] of Object.entries(raw) as Array<[SignalName, number]>) {
    const p = prev?.values[name]
    values[name] = p === undefined || !Number.isFinite(p) ? x : p + a * (x - p)
  }
  return { at: now, values }
}
