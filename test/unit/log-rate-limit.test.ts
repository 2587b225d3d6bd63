// The log sink's per-instance token bucket (src/logs/rate-limit.ts) on a made-up clock: the burst,
// the refill, independent instances, when a drop count is reported, and forgetting idle instances.
import { describe, expect, it } from "vitest"
import { makeLineLimiter } from "../../src/logs/rate-limit.ts"

const takeN = (take: () => boolean, n: number) => Array.from({ length: n }, take).filter(Boolean).length

describe("line limiter", () => {
  it("lets a burst through, then the rate; other instances have buckets of their own", () => {
    const l = makeLineLimiter({ rate: 10, burst: 10 })
    expect(takeN(() => l.take("q", "a", 0), 25)).toBe(10)
    expect(l.take("q", "b", 0)).toBe(true)
    expect(takeN(() => l.take("q", "a", 100), 5)).toBe(1)
    expect(takeN(() => l.take("q", "a", 600), 10)).toBe(5)
  })

  it("reports the drops once the instance was quiet for a second, and only once", () => {
    const l = makeLineLimiter({ rate: 10, burst: 10 })
    takeN(() => l.take("q", "a", 0), 30)
    expect(l.due(500)).toEqual([])
    expect(l.due(1000)).toEqual([{ queue: "q", instance: "a", dropped: 20 }])
    expect(l.due(1500)).toEqual([])
  })

  it("reports every 10 s while an instance floods on", () => {
    const l = makeLineLimiter({ rate: 10, burst: 10 })
    let dropped = 0
    for (let t = 0; t < 10_000; t += 50) dropped += 20 - takeN(() => l.take("q", "a", t), 20)
    expect(l.due(9_950)).toEqual([])
    expect(l.due(10_000)).toEqual([{ queue: "q", instance: "a", dropped }])
  })

  it("forgets an instance once its bucket is full again", () => {
    const l = makeLineLimiter({ rate: 10, burst: 10 })
    takeN(() => l.take("q", "a", 0), 12)
    takeN(() => l.take("q", "b", 0), 8)
    l.due(500)
    expect(l.size()).toBe(2)
    expect(l.due(1000)).toEqual([{ queue: "q", instance: "a", dropped: 2 }])
    expect(l.size()).toBe(0)
  })
})
