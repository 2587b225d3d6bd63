// Unit tests for the shared replica budget (src/scaler/budget.ts): under and over budget,
// priorities, proportional shares with largest remainders, starvation, floors, determinism.
import { describe, expect, it } from "@effect/vitest"
import { allocate, type Want } from "../../src/scaler/budget.ts"

const w = (queue: string, wanted: number, priority = 0, floor?: number): Want =>
  floor === undefined ? { queue, wanted, priority } : { queue, wanted, priority, floor }
const grant = (wants: ReadonlyArray<Want>, budget: number) => Object.fromEntries(allocate(wants, budget))

describe("allocate", () => {
  it.each([
    { name: "under budget: everyone gets what it wants", wants: [w("a", 2), w("b", 3, 5)], budget: 10, out: { a: 2, b: 3 } },
    { name: "exactly the budget", wants: [w("a", 4), w("b", 6)], budget: 10, out: { a: 4, b: 6 } },
    { name: "no budget (Infinity)", wants: [w("a", 40), w("b", 60)], budget: Infinity, out: { a: 40, b: 60 } },
    { name: "over budget: the higher priority first", wants: [w("low", 5, 1), w("high", 6, 10)], budget: 8, out: { high: 6, low: 2 } },
    { name: "over budget: the higher priority takes all but one each", wants: [w("low", 5, 1), w("high", 20, 10)], budget: 8, out: { high: 7, low: 1 } },
    { name: "equal priorities share in proportion", wants: [w("a", 6), w("b", 3)], budget: 6, out: { a: 4, b: 2 } },
    { name: "largest remainder: 10 shared 1:1:1", wants: [w("a", 5), w("b", 5), w("c", 5)], budget: 10, out: { a: 4, b: 3, c: 3 } },
    { name: "largest remainder beats name", wants: [w("a", 7), w("b", 2)], budget: 6, out: { a: 4, b: 2 } },
    { name: "three levels: the middle one gets the rest", wants: [w("hi", 3, 3), w("mid", 9, 2), w("lo", 4, 1)], budget: 9, out: { hi: 3, mid: 5, lo: 1 } },
    { name: "starvation: each queue with work gets one", wants: [w("big", 100, 10), w("x", 5), w("y", 1), w("z", 2)], budget: 4, out: { big: 1, x: 1, y: 1, z: 1 } },
    { name: "budget below the queues with work: highest priorities first", wants: [w("a", 5, 1), w("b", 5, 3), w("c", 5, 2)], budget: 2, out: { a: 0, b: 1, c: 1 } },
    { name: "budget below: equal priorities, larger wanted first, then name", wants: [w("b", 2), w("a", 2), w("c", 9)], budget: 2, out: { a: 1, b: 0, c: 1 } },
    { name: "zero wants get zero", wants: [w("idle", 0, 99), w("busy", 9)], budget: 3, out: { idle: 0, busy: 3 } },
    { name: "budget 0", wants: [w("a", 3), w("b", 1)], budget: 0, out: { a: 0, b: 0 } },
    { name: "floors first, even over priority", wants: [w("hi", 10, 5), w("lo", 4, 1, 3)], budget: 6, out: { hi: 3, lo: 3 } },
    { name: "floors capped at wanted", wants: [w("a", 2, 0, 9), w("b", 9)], budget: 5, out: { a: 2, b: 3 } },
    { name: "bad numbers: NaN and negatives count as 0, fractions round down", wants: [w("a", Number.NaN), w("b", -3), w("c", 2.9)], budget: 1.5, out: { a: 0, b: 0, c: 1 } }
  ])("$name", ({ budget, out, wants }) => {
    const g = grant(wants, budget)
    expect(g).toEqual(out)
    for (const x of wants) expect(g[x.queue]).toBeLessThanOrEqual(Math.max(0, Math.floor(x.wanted) || 0))
  })

  it("never grants more than the budget, never more than wanted, and one each when the budget allows", () => {
    let seed = 7
    const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n
    for (let round = 0; round < 300; round++) {
      const wants = Array.from({ length: 1 + rand(6) }, (_, i) => w(`q${i}`, rand(12), rand(3), rand(4)))
      const budget = rand(30)
      const g = allocate(wants, budget)
      const total = [...g.values()].reduce((a, b) => a + b, 0)
      const wantedTotal = wants.reduce((a, x) => a + x.wanted, 0)
      expect(total).toBe(Math.min(budget, wantedTotal))
      for (const x of wants) expect(g.get(x.queue)).toBeLessThanOrEqual(x.wanted)
      const withWork = wants.filter((x) => x.wanted >= 1)
      const floors = wants.reduce((a, x) => a + Math.min(x.floor ?? 0, x.wanted), 0)
      if (budget >= floors + withWork.length) for (const x of withWork) expect(g.get(x.queue)).toBeGreaterThanOrEqual(1)
    }
  })

  it("is deterministic: the order of the input does not matter", () => {
    const wants = [w("a", 7, 1), w("b", 7, 1), w("c", 3, 2), w("d", 11, 0), w("e", 5, 1)]
    const expected = grant(wants, 13)
    for (const order of [[...wants].reverse(), [wants[2]!, wants[0]!, wants[4]!, wants[1]!, wants[3]!]]) {
      expect(grant(order, 13)).toEqual(expected)
    }
    expect(expected).toEqual({ c: 3, a: 3, b: 3, e: 3, d: 1 })
  })
})
