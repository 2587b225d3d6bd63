// Manual overrides, pure: while one is in force it pins the replica count and the policy stands
// aside; when its time is up the policy resumes from the pinned count.
import type { Decision, PolicyState } from "./policy.ts"

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
    kind: "override",
    reason: `manual override: ${override.replicas} replica(s) until ${new Date(override.untilMs).toISOString()}`,
    state: { ...state, replicas: override.replicas, lastChangeAt: changed ? now : state.lastChangeAt, idleSince: null, lowSince: null }
  }
}
