// Unit tests for the scaling signals (src/scaler/signals.ts): each signal's desired count as a
// table (undefined inputs, 0 replicas, saturation), observation clamping, and the EWMA math.
import { describe, expect, it } from "@effect/vitest"
import type { SignalName } from "../../src/config/model.ts"
import {
  ceilCount,
  ewmaAlpha,
  normalizeObservation,
  type Observation,
  type SignalSettings,
  signalValue,
  smooth
} from "../../src/scaler/signals.ts"

const settings: SignalSettings = { targetPending: 10, targetWaitMs: 5_000, scaleUpAt: 0.8, scaleDownAt: 0.2, concurrency: 4 }

interface Case {
  readonly name: string
  readonly signal: SignalName
  readonly o: Observation
  readonly current: number
  readonly settings?: Partial<SignalSettings>
  readonly value: number
  readonly why?: RegExp
}

const obs = (o: Partial<Observation> = {}): Observation => ({ pending: 0, ackPending: 0, ...o })

const cases: ReadonlyArray<Case> = [
  // backlog: (pending + ackPending) / targetPending
  { name: "backlog: nothing", signal: "backlog", o: obs(), current: 3, value: 0 },
  { name: "backlog: pending + ackPending", signal: "backlog", o: obs({ pending: 5, ackPending: 6 }), current: 1, value: 1.1, why: /^backlog 11 \/ targetPending 10 = 1\.1$/ },
  { name: "backlog: ignores replicas", signal: "backlog", o: obs({ pending: 40 }), current: 0, value: 4 },
  // waitTime: max(current, 1) * oldest / targetWait, never below inFlight / concurrency
  { name: "waitTime: nothing waits, nothing runs", signal: "waitTime", o: obs(), current: 2, value: 0, why: /none waiting or running = 0/ },
  { name: "waitTime: oldest 0 counts as none", signal: "waitTime", o: obs({ oldestWaitMs: 0 }), current: 2, value: 0 },
  { name: "waitTime: none waiting, inFlight carried", signal: "waitTime", o: obs({ inFlight: 6 }), current: 2, value: 1.5, why: /none waiting; 6 in flight \/ concurrency 4 = 1\.5/ },
  { name: "waitTime: inFlight defaults to ackPending", signal: "waitTime", o: obs({ ackPending: 8 }), current: 2, value: 2 },
  { name: "waitTime: oldest 12s / 5s x 2", signal: "waitTime", o: obs({ oldestWaitMs: 12_000 }), current: 2, value: 4.8, why: /^waitTime: oldest 12s \/ targetWait 5s x 2 running = 4\.8$/ },
  { name: "waitTime: at 0 replicas counts 1", signal: "waitTime", o: obs({ oldestWaitMs: 12_000 }), current: 0, value: 2.4 },
  { name: "waitTime: young jobs, running ones carried", signal: "waitTime", o: obs({ oldestWaitMs: 1_000, inFlight: 12 }), current: 2, value: 3, why: /= 0\.4, below 12 in flight \/ concurrency 4 = 3/ },
  // utilization: u = inFlight / (current * concurrency)
  { name: "utilization: 0 replicas", signal: "utilization", o: obs({ inFlight: 5 }), current: 0, value: 0, why: /no replicas/ },
  { name: "utilization: saturated grows by at least one", signal: "utilization", o: obs({ inFlight: 8 }), current: 2, value: 3, why: /100% \(8 of 8 slots\) > scaleUpAt 80%: 8 \/ \(4 x 0\.8\) = 2\.5, at least 3/ },
  { name: "utilization: saturated large grows by 1/scaleUpAt", signal: "utilization", o: obs({ inFlight: 40 }), current: 10, value: 12.5 },
  { name: "utilization: above scaleUpAt", signal: "utilization", o: obs({ inFlight: 7 }), current: 2, value: 3 },
  { name: "utilization: exactly scaleUpAt keeps", signal: "utilization", o: obs({ inFlight: 16 }), current: 5, value: 5 },
  { name: "utilization: in band keeps current", signal: "utilization", o: obs({ inFlight: 4 }), current: 2, value: 2, why: /50% .* within scaleDownAt 20%\.\.scaleUpAt 80% = 2/ },
  { name: "utilization: exactly scaleDownAt keeps", signal: "utilization", o: obs({ inFlight: 4 }), current: 5, value: 5 },
  { name: "utilization: below scaleDownAt shrinks to about scaleUpAt", signal: "utilization", o: obs({ inFlight: 1 }), current: 4, value: 0.3125 },
  { name: "utilization: idle replicas -> 0", signal: "utilization", o: obs({ inFlight: 0 }), current: 4, value: 0 },
  { name: "utilization: inFlight defaults to ackPending", signal: "utilization", o: obs({ ackPending: 8 }), current: 2, value: 3 },
  // rate: Little's law
  { name: "rate: no arrival rate", signal: "rate", o: obs({ meanJobMs: 500 }), current: 1, value: 0, why: /no arrival rate/ },
  { name: "rate: no mean job time", signal: "rate", o: obs({ arrivalPerSec: 10 }), current: 1, value: 0, why: /no mean job time/ },
  { name: "rate: 10/s x 500ms / 2 slots", signal: "rate", o: obs({ arrivalPerSec: 10, meanJobMs: 500 }), current: 1, settings: { concurrency: 2 }, value: 2.5, why: /^rate: 10\/s x mean job 500ms \/ concurrency 2 = 2\.5$/ },
  { name: "rate: nothing arrives", signal: "rate", o: obs({ arrivalPerSec: 0, meanJobMs: 500 }), current: 3, value: 0 }
]

describe("signalValue (table)", () => {
  it.each(cases)("$name", ({ current, o, signal, value, why, ...c }) => {
    const v = signalValue(signal, o, current, { ...settings, ...c.settings })
    expect(v.value).toBeCloseTo(value, 9)
    if (why) expect(v.why).toMatch(why)
  })
})

describe("normalizeObservation", () => {
  it("a number is pending with nothing in flight", () => {
    expect(normalizeObservation(7)).toEqual({ pending: 7, ackPending: 0 })
  })
  it("NaN and negative counts are 0; NaN optional fields are unknown", () => {
    expect(normalizeObservation(Number.NaN)).toEqual({ pending: 0, ackPending: 0 })
    expect(normalizeObservation(-3)).toEqual({ pending: 0, ackPending: 0 })
    expect(normalizeObservation({ pending: -1, ackPending: Number.NaN, oldestWaitMs: -5, inFlight: Number.NaN, arrivalPerSec: 2 }))
      .toEqual({ pending: 0, ackPending: 0, oldestWaitMs: 0, arrivalPerSec: 2 })
  })
})

describe("EWMA", () => {
  it.each([
    { dt: 0, half: 10_000, a: 0 },
    { dt: 10_000, half: 10_000, a: 0.5 },
    { dt: 20_000, half: 10_000, a: 0.75 },
    { dt: 5_000, half: 0, a: 1 },
    { dt: -5, half: 10_000, a: 0 }
  ])("alpha after $dt ms with half-life $half = $a", ({ a, dt, half }) => {
    expect(ewmaAlpha(dt, half)).toBeCloseTo(a, 12)
  })

  it("the first value is the sample; after one half-life the value is halfway", () => {
    const s0 = smooth(undefined, { backlog: 0 }, 10_000, 1_000)
    expect(s0).toEqual({ at: 1_000, values: { backlog: 0 } })
    const s1 = smooth(s0, { backlog: 10, rate: 4 }, 10_000, 11_000)
    expect(s1.at).toBe(11_000)
    expect(s1.values.backlog).toBeCloseTo(5, 12)
    expect(s1.values.rate).toBe(4) // a signal seen first takes its sample
  })

  it("ten steps of a tenth of the half-life also land halfway", () => {
    let s = smooth(undefined, { backlog: 0 }, 10_000, 0)
    for (let t = 1_000; t <= 10_000; t += 1_000) s = smooth(s, { backlog: 8 }, 10_000, t)
    expect(s.values.backlog).toBeCloseTo(4, 9)
  })
})

describe("ceilCount", () => {
  it.each([[0, 0], [4, 4], [4.0000000001, 4], [4.1, 5], [0.01, 1], [-2, 0]])("%s -> %s", (x, n) => {
    expect(ceilCount(x)).toBe(n)
  })
})
