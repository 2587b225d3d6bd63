// Scaling policy for one queue: a pure `(backlog, state, config, now) -> Decision` function.
// No I/O and no clock reads (except `decideNow`, which reads Effect's Clock), so every rule is
// table-testable. Rules, in the order `decide` applies them:
//   desired = ceil(backlog / targetPending) clamped to [minReplicas, maxReplicas]
//   1. replicas > maxReplicas            -> scale-down to maxReplicas at once (config was lowered)
//   2. replicas < minReplicas            -> scale-up to desired (>= minReplicas) at once
//   3. replicas == 0                     -> wake to max(1, desired) when backlog >= max(activation, 1), else hold
//   4. desired > replicas                -> scale-up to desired at once
//   5. desired < replicas:
//      a. backlog 0 for >= idleTimeoutMs -> straight to minReplicas ("idle"), ignoring scaleDownDelay
//      b. otherwise one replica per step, never below max(minReplicas, 1), and only when
//         scaleDownDelayMs has passed both since lastChangeAt (null = long ago) AND since desired
//         first dropped below replicas (`lowSince`: a stabilization window, so a backlog flapping
//         around a threshold cannot cause a down/up pair every scaleDownDelay)
//   6. otherwise hold.
// A negative or NaN backlog is a caller bug; it is clamped to 0 rather than thrown on.
import { Clock, Duration, Effect } from "effect"

export interface PolicyConfig {
  readonly minReplicas: number
  readonly maxReplicas: number
  readonly targetPending: number
  readonly activation: number
  readonly idleTimeoutMs: number
  readonly scaleDownDelayMs: number
}

export interface PolicyState {
  /** The replica count currently decided (what the scaler runs). */
  readonly replicas: number
  /** ms epoch of the last scale change (up or down), null if never. */
  readonly lastChangeAt: number | null
  /** ms epoch since which backlog has been 0 continuously, null if backlog > 0. */
  readonly idleSince: number | null
  /** ms epoch since which desired has been continuously below `replicas`; null/absent otherwise. */
  readonly lowSince?: number | null
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
}

export const initialState = (replicas: number): PolicyState => ({
  replicas,
  lastChangeAt: null,
  idleSince: null,
  lowSince: null
})

export const fromQueueConfig = (q: {
  readonly minReplicas: number
  readonly maxReplicas: number
  readonly targetPending: number
  readonly activation: number
  readonly idleTimeout: Duration.Duration
  readonly scaleDownDelay: Duration.Duration
}): PolicyConfig => ({
  minReplicas: q.minReplicas,
  maxReplicas: q.maxReplicas,
  targetPending: q.targetPending,
  activation: q.activation,
  idleTimeoutMs: Duration.toMillis(q.idleTimeout),
  scaleDownDelayMs: Duration.toMillis(q.scaleDownDelay)
})

/** Negative or NaN backlog (a caller bug) counts as 0. */
export const sanitizeBacklog = (backlog: number): number => (Number.isNaN(backlog) || backlog < 0 ? 0 : backlog)

const clamp = (n: number, min: number, max: number): number => Math.min(max, Math.max(min, n))

const fmt = (ms: number): string =>
  Number.isFinite(ms) ? Duration.format(Duration.millis(Math.max(0, ms))) : "forever"

/** desired = ceil(backlog / targetPending) clamped to [minReplicas, maxReplicas], with its explanation. */
export const desiredReplicas = (backlog: number, config: PolicyConfig): { readonly desired: number; readonly why: string } => {
  const b = sanitizeBacklog(backlog)
  const target = config.targetPending > 0 ? config.targetPending : 1 // guard: 0 would divide by zero
  const raw = Math.ceil(b / target)
  const desired = clamp(raw, config.minReplicas, config.maxReplicas)
  const clampNote = raw > config.maxReplicas
    ? `, clamped to maxReplicas ${config.maxReplicas}`
    : raw < config.minReplicas
    ? `, clamped to minReplicas ${config.minReplicas}`
    : ""
  return { desired, why: `backlog ${b} / targetPending ${target} = ${raw}${clampNote}` }
}

/** (backlog, state, config, now) -> decision. Pure. */
export const decide = (backlog: number, state: PolicyState, config: PolicyConfig, now: number): Decision => {
  const b = sanitizeBacklog(backlog)
  const { maxReplicas: max, minReplicas: min } = config
  const current = state.replicas
  const { desired, why } = desiredReplicas(b, config)
  const idleSince = b > 0 ? null : (state.idleSince ?? now)
  const lowSince = desired < current ? (state.lowSince ?? now) : null

  const result = (replicas: number, kind: DecisionKind, reason: string): Decision => ({
    replicas,
    kind,
    reason,
    state: {
      replicas,
      lastChangeAt: replicas !== current ? now : state.lastChangeAt,
      idleSince,
      lowSince: desired < replicas ? (lowSince ?? now) : null
    }
  })
  const hold = (reason: string) => result(current, "hold", reason)

  // 1-2. outside the configured bounds (config changed, or first start): fix at once
  if (current > max) return result(max, "scale-down", `scale down ${current} -> ${max}: above maxReplicas ${max}`)
  if (current < min) {
    return result(desired, "scale-up", `scale up ${current} -> ${desired}: below minReplicas ${min}; ${why}`)
  }

  // 3. scaled to zero (so minReplicas is 0): only the activation threshold wakes it
  if (current === 0) {
    const threshold = Math.max(config.activation, 1)
    if (b === 0) return hold(`idle at 0 replicas: backlog 0`)
    if (b < threshold) return hold(`backlog ${b} below activation ${config.activation}: staying at 0`)
    const to = Math.min(Math.max(1, desired), max)
    if (to === 0) return hold(`backlog ${b} but maxReplicas is 0`)
    return result(to, "wake", `wake 0 -> ${to}: backlog ${b} >= activation ${config.activation}; ${why}`)
  }

  // 4. more work than replicas: scale up at once
  if (desired > current) return result(desired, "scale-up", `scale up ${current} -> ${desired}: ${why}`)

  // 6. nothing to do
  if (desired === current) return hold(`at desired ${current}: ${why}`)

  // 5a. idle long enough: straight to minReplicas
  const idleFor = idleSince === null ? 0 : now - idleSince
  if (b === 0 && idleFor >= config.idleTimeoutMs) {
    return result(
      min,
      "idle",
      `idle ${current} -> ${min}: backlog 0 for ${fmt(idleFor)} >= idleTimeout ${fmt(config.idleTimeoutMs)}`
    )
  }

  // 5b. one step down, never below max(minReplicas, 1) before idleTimeout
  const floor = Math.max(min, 1)
  const next = Math.max(current - 1, floor) // desired < current, so current - 1 >= desired
  if (next >= current) {
    return hold(
      `keeping ${current} replica(s) until idle: backlog 0 for ${fmt(idleFor)} of idleTimeout ${
        fmt(config.idleTimeoutMs)
      }`
    )
  }
  const sinceChange = state.lastChangeAt === null ? Infinity : now - state.lastChangeAt
  if (sinceChange < config.scaleDownDelayMs) {
    return hold(
      `scale-down delay: ${fmt(sinceChange)} of ${fmt(config.scaleDownDelayMs)} elapsed since last change (${why})`
    )
  }
  const lowFor = now - (lowSince ?? now)
  if (lowFor < config.scaleDownDelayMs) {
    return hold(
      `scale-down delay: desired below ${current} for ${fmt(lowFor)} of ${fmt(config.scaleDownDelayMs)} (${why})`
    )
  }
  return result(next, "scale-down", `scale down ${current} -> ${next} (one step): ${why}`)
}

/** Effect wrapper that reads `now` from Effect's Clock (so tests can use TestClock). */
export const decideNow = (backlog: number, state: PolicyState, config: PolicyConfig): Effect.Effect<Decision> =>
  Effect.map(Clock.currentTimeMillis, (now) => decide(backlog, state, config, now))
