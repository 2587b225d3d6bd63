// Crash-loop backoff: delays double from 1s to a 60s cap, and a healthy worker resets them.
import { describe, expect, it } from "vitest"
import { canStart, delayAfter, healthyAfterMs, noCrashes, recordCrash, recordHealthy } from "../../src/scaler/crash-backoff.ts"

describe("crash-loop backoff", () => {
  it.each([[1, 1000], [2, 2000], [3, 4000], [6, 32_000], [7, 60_000], [50, 60_000]])("crash %i waits %i ms", (n, ms) => {
    expect(delayAfter(n)).toBe(ms)
  })

  it("holds starts until the delay has passed", () => {
    const s = recordCrash(recordCrash(noCrashes, 0), 500)
    expect(s).toEqual({ consecutive: 2, nextStartAt: 2500 })
    expect(canStart(s, 2499)).toBe(false)
    expect(canStart(s, 2500)).toBe(true)
  })

  it.each([
    ["no running worker", undefined, 100_000, 2],
    ["a worker up for less than healthyAfterMs", 100_000 - healthyAfterMs + 1, 100_000, 2],
    ["a worker up for healthyAfterMs", 100_000 - healthyAfterMs, 100_000, 0]
  ] as const)("after crashes, %s -> %i consecutive", (_, oldest, now, expected) => {
    const s = recordCrash(recordCrash(noCrashes, 0), 0)
    expect(recordHealthy(s, oldest, now).consecutive).toBe(expected)
  })
})
