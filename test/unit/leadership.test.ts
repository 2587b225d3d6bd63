// Unit tests for the lease rules of leader election (src/scaler/leadership.ts): when a standby may
// take over, until when a leader may act, and when a holder on this host is known to be gone.
import { describe, expect, it } from "vitest"
import { actUntil, holderIsGone, leaseLapsed, nextSeen, type LeaseHolder } from "../../src/scaler/leadership.ts"

describe("lease rules", () => {
  it("a standby counts a lease's age from when it first saw its revision", () => {
    const first = nextSeen(undefined, 7, 1000)
    expect(first).toEqual({ revision: 7, sinceMs: 1000 })
    expect(nextSeen(first, 7, 4000)).toBe(first)
    expect(nextSeen(first, 8, 4000)).toEqual({ revision: 8, sinceMs: 4000 })
  })

  it.each([
    [0, false], [9_999, false], [10_000, true], [25_000, true]
  ])("a revision unchanged for %i ms of a 10s lease: lapsed %s", (age, lapsed) => {
    expect(leaseLapsed({ revision: 1, sinceMs: 5000 }, 5000 + age, 10_000)).toBe(lapsed)
  })

  it("a leader stops acting before any standby may take over", () => {
    // the renewal is written after it is sent, and a standby sees it after it is written
    const sent = 1000
    const earliestTakeover = sent + 10_000
    expect(actUntil(sent, 10_000)).toBeLessThan(earliestTakeover)
    expect(actUntil(sent, 10_000)).toBe(9000)
  })

  const me = { id: "me", process: { boot: "b1", pidNamespace: "pid:[1]", pid: 100 } }
  const holder = (over: Partial<NonNullable<LeaseHolder["process"]>>, id = "other"): LeaseHolder =>
    ({ id, since: "2026-12-01T00:00:00Z", process: { boot: "b1", pidNamespace: "pid:[1]", pid: 200, ...over } })
  it.each([
    ["a dead process of this host", holder({}), false, true],
    ["a live process of this host", holder({}), true, false],
    ["another boot", holder({ boot: "b2" }), false, false],
    ["another pid namespace (another container)", holder({ pidNamespace: "pid:[2]" }), false, false],
    ["our own pid (another scaler in this process)", holder({ pid: 100 }), false, false],
    ["ourselves", holder({}, "me"), false, false],
    ["a holder without a process (another OS)", { id: "other", since: "x" }, false, false]
  ] as const)("holder gone: %s", (_name, h, alive, gone) => {
    expect(holderIsGone(h, me, () => alive)).toBe(gone)
  })
})
