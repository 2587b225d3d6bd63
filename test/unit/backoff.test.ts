// Retry delays: the list form and the exponential form (capped, with jitter), as Effect Schedules.
import { describe, expect, it } from "vitest"
import { delayForAttempt, exponential, fromList, fromSpec } from "../../src/worker/backoff.ts"

describe("backoff", () => {
  it.each([[1, 1000], [2, 5000], [3, 30000], [4, 30000], [10, 30000]])("list [1s, 5s, 30s]: attempt %i waits %i ms", (n, ms) => {
    expect(delayForAttempt(fromList([1000, 5000, 30000]), n)).toBe(ms)
  })

  it.each([[1, 1000], [2, 2000], [3, 4000], [6, 32000], [7, 60000], [20, 60000]])("exponential 1s x2 up to 1m: attempt %i waits %i ms", (n, ms) => {
    expect(delayForAttempt(exponential({ initialMs: 1000, maxMs: 60000, factor: 2, jitter: 0 }), n)).toBe(ms)
  })

  it("jitter spreads each delay within ±jitter of its value, and the cap applies before it", () => {
    const s = exponential({ initialMs: 1000, maxMs: 60000, factor: 2, jitter: 0.2 })
    for (let i = 0; i < 200; i++) {
      const d3 = delayForAttempt(s, 3)
      expect(d3).toBeGreaterThanOrEqual(3200)
      expect(d3).toBeLessThanOrEqual(4800)
      expect(delayForAttempt(s, 12)).toBeLessThanOrEqual(72000)
    }
  })

  it("fromSpec picks the form", () => {
    expect(delayForAttempt(fromSpec([250]), 3)).toBe(250)
    expect(delayForAttempt(fromSpec({ initialMs: 100, maxMs: 1000, factor: 3, jitter: 0 }), 3)).toBe(900)
  })
})
