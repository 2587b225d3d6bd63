// Manual overrides, pure: while one is in force it pins the replica count and the policy stands
// aside; when its time is up the policy resumes from the pinned count.
import { Duration } from "effect"
import type { Decision, PolicyState } from "./policy.ts"

/** The longest an override may hold: anything longer is refused (a 400 from the API, an error line from the CLI). */
export const maxOverrideTtl: Duration.Duration = Duration.days(30)

/** Why `ttl` is not an allowed override duration, or undefined when it is. */
export const overrideTtlProblem = (ttl: Duration.Duration): string | undefined => {
  const ms = Duration.toMillis(ttl)
  return ms > 0 && ms <= Duration.toMillis(maxOverrideTtl) ? undefined : "expected a duration from 1ms to 30d"
}

export interface OverrideState {
  readonly replicas: number
  /** ms epoch. */
  readonly untilMs: number
}

/** The decision an override in force makes, or undefined when there is none (or it has ended). */
export const overrideDecision = (override: OverrideState | null, state: PolicyState, now: number): Decision | undefined => {
  if (override === null || now >= override.untilMs) return undefined
  const changed = override.replicas !== state.replicas
  return {
    replicas: override.replicas,
    wanted: override.replicas,
    kind: "override",
    reason: `manual override: ${override.replicas} replica(s) until ${new Date(override.untilMs).toISOString()}`,
    state: { ...state, replicas: override.replicas, lastChangeAt: changed ? now : state.lastChangeAt, idleSince: null, lowSince: null }
  }
}
