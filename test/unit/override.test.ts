// Manual overrides: pin while in force, stand aside once ended.
import { describe, expect, it } from "vitest"
import { overrideDecision } from "../../src/scaler/override.ts"
import { initialState } from "../../src/scaler/policy.ts"

describe("overrideDecision", () => {
  const state = { ...initialState(1), lastChangeAt: 100, idleSince: 50 }
  it("pins the replica count while in force, and records the change", () => {
    const d = overrideDecision({ replicas: 3, untilMs: 10_000 }, state, 1000)
    expect(d).toMatchObject({ replicas: 3, kind: "override", state: { replicas: 3, lastChangeAt: 1000, idleSince: null } })
    expect(d?.reason).toContain("manual override: 3 replica(s) until 1970-01-01T00:00:10.000Z")
  })
  it("keeps lastChangeAt when the count is already the pinned one", () => {
    expect(overrideDecision({ replicas: 1, untilMs: 10_000 }, state, 1000)?.state.lastChangeAt).toBe(100)
  })
  it.each([["no override", null, 1000], ["an ended override", { replicas: 3, untilMs: 1000 }, 1000]] as const)("%s: the policy decides", (_, o, now) => {
    expect(overrideDecision(o, state, now)).toBeUndefined()
  })
})
