// Crash-loop backoff: delays double from 1s to a 60s cap, and a healthy worker resets them.
import { describe, expect, it } from "vitest"
import { canStart, delayAfter, healthyAfterMs, noCrashes, recordCrash, recordHealthy } from "../../src/scaler/crash-backoff.ts"

describe("crash-loop backoff", () => {
  it.each([[1, 1000], [2, 2000], [3, 4000], [6, 32_000], [7, 60_000], [50, 60_000]])("crash %i waits %i ms", (n, ms) => {
    expect(delayAfter(n)).toBe(ms)
  })

  it("holds starts until the delay has passed", () => {
    const s = recordCrash(recordCrash(noCrashes, 0), 500)
    expect(s).toEqual({ consecutive: 2, nextStartAt: 2500, lastCrashAt: 500 })
    expect(canStart(s, 2499)).toBe(false)
    expect(canStart(s, 2500)).toBe(true)
  })

  it.each([
    ["no running worker", [], 2],
    ["a worker started after the crash, up for less than healthyAfterMs", [100_000 - healthyAfterMs + 1], 2],
    ["a worker started after the crash, up for healthyAfterMs", [100_000 - healthyAfterMs], 0],
    ["only a worker started before the crash, however old", [0], 2]
  ] as const)("crashes at t=1000, now t=100000, %s -> %i consecutive", (_, startedAt, expected) => {
    const s = recordCrash(recordCrash(noCrashes, 1000), 1000)
    expect(recordHealthy(s, startedAt, 100_000).consecutive).toBe(expected)
  })
})
