// Scaling policy for one queue: a pure `(observation, state, config, now) -> Decision` function.
// No I/O and no clock reads (except `decideNow`, which reads Effect's Clock), so every rule is
// table-testable. Each configured signal (./signals.ts) gives a fractional desired count, EWMA-
// smoothed when `smoothingMs` is set; the largest decides:
//   desired = ceil(max over signals) clamped to [minReplicas, maxReplicas]
// Rules, in the order `decide` applies them:
//   1. replicas > maxReplicas            -> scale-down to maxReplicas at once (config was lowered)
//   2. replicas < minReplicas            -> scale-up to desired (>= minReplicas) at once
//   3. replicas == 0                     -> wake when the raw backlog >= max(activation, 1), to
//                                           max(1, desired) limited by step.up; else hold
//   4. desired > replicas                -> scale-up by step.up (jump: to desired at once)
//   5. desired < replicas:
//      a. backlog 0 for >= idleTimeoutMs -> straight to the raw signals' desired (minReplicas when
//         nothing runs or arrives: "idle"), ignoring scaleDownDelay; the smoothing restarts there
//      b. otherwise by step.down (one, half, jump), never below max(minReplicas, 1), and only when
//         scaleDownDelayMs has passed both since lastChangeAt (null = long ago) AND since desired
//         first dropped below replicas (`lowSince`: a stabilization window, so a backlog flapping
//         around a threshold cannot cause a down/up pair every scaleDownDelay)
//   6. otherwise hold.
// Wake and idle read the raw backlog, never the smoothed one: wakes stay sub-second and an idle
// queue reaches zero although an EWMA never does.
import { Clock, Duration, Effect } from "effect"
import type { SignalName, StepDown, StepUp } from "../config/model.ts"
import {
  backlogOf,
  ceilCount,
  fmtNum,
  normalizeObservation,
  type Observation,
  type SignalSettings,
  signalValue,
  type SignalValues,
  smooth,
  type Smoothed
} from "./signals.ts"

export type { SignalName, StepDown, StepUp } from "../config/model.ts"
export type { Observation, Smoothed } from "./signals.ts"

export interface PolicyConfig {
  readonly minReplicas: number
  readonly maxReplicas: number
  readonly targetPending: number
  readonly activation: number
  readonly idleTimeoutMs: number
  readonly scaleDownDelayMs: number
  /** Default ["backlog"]. */
  readonly signals?: ReadonlyArray<SignalName>
  /** waitTime signal; default 10_000. */
  readonly targetWaitMs?: number
  /** utilization signal; defaults 0.8 and 0.2. */
  readonly scaleUpAt?: number
  readonly scaleDownAt?: number
  /** Job slots per replica; default 1. */
  readonly concurrency?: number
  /** EWMA half-life of the signals; 0/absent = none. */
  readonly smoothingMs?: number
  /** Default { up: jump, down: half }. */
  readonly step?: { readonly up: StepUp; readonly down: StepDown }
}

/** The defaults of PolicyConfig's optional fields. */
export const policyDefaults = {
  signals: ["backlog"] as ReadonlyArray<SignalName>,
  targetWaitMs: 10_000,
  scaleUpAt: 0.8,
  scaleDownAt: 0.2,
  concurrency: 1,
  smoothingMs: 0,
  step: { up: { _tag: "jump" } as StepUp, down: "half" as StepDown }
} as const

export interface PolicyState {
  /** The replica count currently decided (what the scaler runs). */
  readonly replicas: number
  /** ms epoch of the last scale change (up or down), null if never. */
  readonly lastChangeAt: number | null
  /** ms epoch since which backlog has been 0 continuously, null if backlog > 0. */
  readonly idleSince: number | null
  /** ms epoch since which desired has been continuously below `replicas`; null/absent otherwise. */
  readonly lowSince?: number | null
  /** The largest desired count since `lowSince`: a step down goes no lower (the window's peak, as the HPA does). */
  readonly lowPeak?: number | null
  /** EWMA memory (fractional desired replicas per signal); absent without smoothing. */
  readonly smoothed?: Smoothed
}

export type DecisionKind = "wake" | "scale-up" | "scale-down" | "idle" | "hold" | "override"

export interface Decision {
  /** Desired replica count after this decision. */
  readonly replicas: number
  /** Human text for logs. */
  readonly reason: string
  readonly kind: DecisionKind
  /** The next state to keep. */
  readonly state: PolicyState
  /** The signal whose desired count decided (the largest), when a signal decided. */
  readonly signal?: SignalName
  /** The desired count before step rules and delays (what the queue wants now), clamped to [min, max]. */
  readonly wanted: number
}

export const initialState = (replicas: number): PolicyState => ({
  replicas,
  lastChangeAt: null,
  idleSince: null,
  lowSince: null
})

/** A queue's policy settings; the fields added with signals are optional so partial objects still map. */
export const fromQueueConfig = (q: {
  readonly minReplicas: number
  readonly maxReplicas: number
  readonly targetPending: number
  readonly activation: number
  readonly idleTimeout: Duration.Duration
  readonly scaleDownDelay: Duration.Duration
  readonly signals?: ReadonlyArray<SignalName>
  readonly targetWait?: Duration.Duration
  readonly scaleUpAt?: number
  readonly scaleDownAt?: number
  readonly concurrency?: number
  readonly smoothing?: Duration.Duration | undefined
  readonly step?: { readonly up: StepUp; readonly down: StepDown }
}): PolicyConfig => ({
  minReplicas: q.minReplicas,
  maxReplicas: q.maxReplicas,
  targetPending: q.targetPending,
  activation: q.activation,
  idleTimeoutMs: Duration.toMillis(q.idleTimeout),
  scaleDownDelayMs: Duration.toMillis(q.scaleDownDelay),
  ...(q.signals === undefined ? {} : { signals: q.signals }),
  ...(q.targetWait === undefined ? {} : { targetWaitMs: Duration.toMillis(q.targetWait) }),
  ...(q.scaleUpAt === undefined ? {} : { scaleUpAt: q.scaleUpAt }),
  ...(q.scaleDownAt === undefined ? {} : { scaleDownAt: q.scaleDownAt }),
  ...(q.concurrency === undefined ? {} : { concurrency: q.concurrency }),
  ...(q.smoothing === undefined ? {} : { smoothingMs: Duration.toMillis(q.smoothing) }),
  ...(q.step === undefined ? {} : { step: q.step })
})

/** Negative or NaN backlog (a caller bug) counts as 0. */
export const sanitizeBacklog = (backlog: number): number => (Number.isNaN(backlog) || backlog < 0 ? 0 : backlog)

const clamp = (n: number, min: number, max: number): number => Math.min(max, Math.max(min, n))
const positive = (n: number | undefined, fallback: number): number =>
  n !== undefined && Number.isFinite(n) && n > 0 ? n : fallback

const fmt = (ms: number): string =>
  Number.isFinite(ms) ? Duration.format(Duration.millis(Math.max(0, ms))) : "forever"

interface Resolved extends SignalSettings {
  readonly min: number
  readonly max: number
  readonly signals: ReadonlyArray<SignalName>
  readonly smoothingMs: number
  readonly step: { readonly up: StepUp; readonly down: StepDown }
}

/** Defaults applied; zero or bad divisors replaced (a targetPending of 0 would divide by zero). */
const resolve = (c: PolicyConfig): Resolved => ({
  min: c.minReplicas,
  max: c.maxReplicas,
  targetPending: positive(c.targetPending, 1),
  targetWaitMs: positive(c.targetWaitMs, policyDefaults.targetWaitMs),
  scaleUpAt: positive(c.scaleUpAt, policyDefaults.scaleUpAt),
  scaleDownAt: c.scaleDownAt !== undefined && c.scaleDownAt >= 0 ? c.scaleDownAt : policyDefaults.scaleDownAt,
  concurrency: positive(c.concurrency, policyDefaults.concurrency),
  signals: c.signals !== undefined && c.signals.length > 0 ? c.signals : policyDefaults.signals,
  smoothingMs: positive(c.smoothingMs, 0),
  step: c.step ?? policyDefaults.step
})

/** The desired count of a set of signal values: the largest decides. */
interface Chosen {
  readonly desired: number
  readonly signal: SignalName
  readonly why: string
}

const pickDesired = (
  c: Resolved,
  raw: ReadonlyMap<SignalName, { readonly value: number; readonly why: string }>,
  smoothed: SignalValues | undefined
): Chosen => {
  const valueOf = (s: SignalName) => smoothed?.[s] ?? raw.get(s)!.value
  const signal = c.signals.reduce((best, s) => (valueOf(s) > valueOf(best) ? s : best), c.signals[0]!)
  const value = valueOf(signal)
  const wantedRaw = ceilCount(value)
  const desired = clamp(wantedRaw, c.min, c.max)
  const smoothNote = smoothed === undefined ? "" : `, smoothed ${fmtNum(value)}`
  const ceilNote = Number.isInteger(value) ? "" : ` -> ${wantedRaw}`
  const clampNote = wantedRaw > c.max
    ? `, clamped to maxReplicas ${c.max}`
    : wantedRaw < c.min
    ? `, clamped to minReplicas ${c.min}`
    : ""
  const others = c.signals.filter((s) => s !== signal).map((s) => `${s} ${fmtNum(valueOf(s))}`)
  const othersNote = others.length === 0 ? "" : `; others: ${others.join(", ")}`
  return { desired, signal, why: `${raw.get(signal)!.why}${smoothNote}${ceilNote}${clampNote}${othersNote}` }
}

/** How far one scale-up goes from `current` towards `desired`. */
export const stepUp = (step: StepUp, current: number, desired: number): number => {
  switch (step._tag) {
    case "jump":
      return desired
    case "double":
      return Math.min(desired, Math.max(2 * current, current + 1))
    case "add":
      return Math.min(desired, current + Math.max(1, Math.floor(step.n)))
  }
}

/** How far one scale-down goes from `current` towards `desired` (the floor is applied by the caller). */
export const stepDown = (step: StepDown, current: number, desired: number): number => {
  switch (step) {
    case "one":
      return current - 1
    case "half":
      return Math.max(desired, Math.ceil(current / 2))
    case "jump":
      return desired
  }
}

const stepUpLabel = (s: StepUp): string => (s._tag === "add" ? `add ${s.n}` : s._tag)
const stepDownLabel: Record<StepDown, string> = { one: "one step", half: "half", jump: "to desired" }

/** desired for a plain backlog (the backlog signal alone), with its explanation. */
export const desiredReplicas = (backlog: number, config: PolicyConfig): { readonly desired: number; readonly why: string } => {
  const c = { ...resolve(config), signals: ["backlog"] as const }
  const o = normalizeObservation(backlog)
  const { desired, why } = pickDesired(c, new Map([["backlog", signalValue("backlog", o, 0, c)]]), undefined)
  return { desired, why }
}

/** What one step reads: the backlog, the idle timer, and the signals' desired count (smoothed or raw). */
interface Assessment extends Chosen {
  readonly c: Resolved
  readonly backlog: number
  readonly idleSince: number | null
  readonly idleFor: number
  /** Backlog 0 for idleTimeout: the raw signals decide and the smoothing restarts (an EWMA never reaches 0). */
  readonly idle: boolean
  readonly smoothed: Smoothed | undefined
}

const assess = (observed: number | Observation, state: PolicyState, config: PolicyConfig, now: number): Assessment => {
  const c = resolve(config)
  const o = normalizeObservation(observed)
  const backlog = backlogOf(o)
  const raw = new Map(c.signals.map((s) => [s, signalValue(s, o, state.replicas, c)] as const))
  const rawValues: SignalValues = Object.fromEntries([...raw].map(([s, v]) => [s, v.value]))
  const idleSince = backlog > 0 ? null : (state.idleSince ?? now)
  const idleFor = idleSince === null ? 0 : now - idleSince
  const idle = backlog === 0 && idleFor >= config.idleTimeoutMs
  const smoothed = c.smoothingMs <= 0
    ? undefined
    : idle
    ? { at: now, values: rawValues }
    : smooth(state.smoothed, rawValues, c.smoothingMs, now)
  const chosen = pickDesired(c, raw, idle ? undefined : smoothed?.values)
  return { ...chosen, c, backlog, idleSince, idleFor, idle, smoothed }
}

/** (observation, state, config, now) -> decision. Pure. */
export const decide = (observed: number | Observation, state: PolicyState, config: PolicyConfig, now: number): Decision => {
  const a = assess(observed, state, config, now)
  const { backlog: b, c, desired, why } = a
  const current = state.replicas
  const lowSince = desired < current ? (state.lowSince ?? now) : null
  const lowPeak = desired < current ? Math.max(desired, state.lowSince == null ? 0 : state.lowPeak ?? 0) : null

  const result = (replicas: number, kind: DecisionKind, reason: string, signal = true): Decision => ({
    replicas,
    kind,
    reason,
    wanted: desired,
    ...(signal ? { signal: a.signal } : {}),
    state: {
      replicas,
      lastChangeAt: replicas !== current ? now : state.lastChangeAt,
      idleSince: a.idleSince,
      // A change starts a new window: its low time and peak are measured against the new count.
      lowSince: desired < replicas ? (replicas === current ? lowSince ?? now : now) : null,
      lowPeak: desired < replicas ? (replicas === current ? lowPeak ?? desired : desired) : null,
      ...(a.smoothed === undefined ? {} : { smoothed: a.smoothed })
    }
  })
  const hold = (reason: string) => result(current, "hold", reason)

  // 1-2. outside the configured bounds (config changed, or first start): fix at once
  if (current > c.max) return result(c.max, "scale-down", `scale down ${current} -> ${c.max}: above maxReplicas ${c.max}`, false)
  if (current < c.min) {
    return result(desired, "scale-up", `scale up ${current} -> ${desired}: below minReplicas ${c.min}; ${why}`)
  }

  // 3. scaled to zero (so minReplicas is 0): only the activation threshold wakes it
  if (current === 0) {
    const threshold = Math.max(config.activation, 1)
    if (b === 0) return hold(`idle at 0 replicas: backlog 0`)
    if (b < threshold) return hold(`backlog ${b} below activation ${config.activation}: staying at 0`)
    const to = Math.min(Math.max(1, stepUp(c.step.up, 0, desired)), c.max)
    if (to === 0) return hold(`backlog ${b} but maxReplicas is 0`)
    return result(to, "wake", `wake 0 -> ${to}: backlog ${b} >= activation ${config.activation}; ${why}`)
  }

  // 4. more work than replicas: scale up by the step rule
  if (desired > current) {
    const to = stepUp(c.step.up, current, desired)
    const note = to < desired ? ` (step ${stepUpLabel(c.step.up)} of ${desired} wanted)` : ""
    return result(to, "scale-up", `scale up ${current} -> ${to}${note}: ${why}`)
  }

  // 5a. idle long enough: straight to what the raw signals want (minReplicas when nothing runs or arrives)
  if (a.idle && desired < current) {
    const since = `backlog 0 for ${fmt(a.idleFor)} >= idleTimeout ${fmt(config.idleTimeoutMs)}`
    return result(desired, "idle", `idle ${current} -> ${desired}: ${since}`)
  }

  // 6. nothing to do
  if (desired >= current) return hold(`at desired ${current}: ${why}`)

  // 5b. step down
  const held = scaleDownHold(a, state, config, now, lowSince)
  if (held !== undefined) return hold(held)
  const peak = Math.max(desired, lowPeak ?? desired)
  const next = Math.max(stepDown(c.step.down, current, peak), c.min, 1)
  const peakNote = peak > desired ? `; ${peak} wanted at the peak of the last ${fmt(now - (lowSince ?? now))}` : ""
  return result(next, "scale-down", `scale down ${current} -> ${next} (${stepDownLabel[c.step.down]}): ${why}${peakNote}`)
}

/**
 * Why a step down waits, or undefined when it may go: never below max(minReplicas, 1) before
 * idleTimeout, and only once scaleDownDelay has passed since the last change and since desired
 * first dropped below the replicas.
 */
const scaleDownHold = (
  a: Assessment,
  state: PolicyState,
  config: PolicyConfig,
  now: number,
  lowSince: number | null
): string | undefined => {
  const current = state.replicas
  const next = Math.max(stepDown(a.c.step.down, current, a.desired), a.c.min, 1)
  if (next >= current) {
    return `keeping ${current} replica(s) until idle: backlog 0 for ${fmt(a.idleFor)} of idleTimeout ${fmt(config.idleTimeoutMs)}`
  }
  const sinceChange = state.lastChangeAt === null ? Infinity : now - state.lastChangeAt
  if (sinceChange < config.scaleDownDelayMs) {
    return `scale-down delay: ${fmt(sinceChange)} of ${fmt(config.scaleDownDelayMs)} elapsed since last change (${a.why})`
  }
  const lowFor = now - (lowSince ?? now)
  if (lowFor < config.scaleDownDelayMs) {
    return `scale-down delay: desired below ${current} for ${fmt(lowFor)} of ${fmt(config.scaleDownDelayMs)} (${a.why})`
  }
  return undefined
}

/** Effect wrapper that reads `now` from Effect's Clock (so tests can use TestClock). */
export const decideNow = (
  observed: number | Observation,
  state: PolicyState,
  config: PolicyConfig
): Effect.Effect<Decision> => Effect.map(Clock.currentTimeMillis, (now) => decide(observed, state, config, now))
