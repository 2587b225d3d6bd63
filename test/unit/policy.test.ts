// Unit tests for the pure scaling policy (src/scaler/policy.ts): table-driven rule cases, signals
// and step rules, then TestClock-driven simulations (flapping input, full 0 -> N -> 0 lifecycle,
// smoothing, halving steps) through `decideNow`.
import { assert, describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { TestClock } from "effect/testing"
import {
  type DecisionKind,
  decide,
  decideNow,
  fromQueueConfig,
  initialState,
  type Observation,
  type PolicyConfig,
  type PolicyState
} from "../../src/scaler/policy.ts"

const base: PolicyConfig = {
  minReplicas: 0,
  maxReplicas: 5,
  targetPending: 10,
  activation: 1,
  idleTimeoutMs: 60_000,
  scaleDownDelayMs: 10_000
}
const NOW = 1_000_000
const st = (replicas: number, s: Partial<PolicyState> = {}): PolicyState => ({ ...initialState(replicas), ...s })
const ago = (ms: number) => NOW - ms

interface Case {
  readonly name: string
  readonly config?: Partial<PolicyConfig>
  readonly state: PolicyState
  readonly backlog: number
  readonly replicas: number
  readonly kind: DecisionKind
  readonly reason?: RegExp
}

// A replica set that has been low (desired < replicas) and unchanged for a long time.
const settled = (replicas: number, idleForMs: number | null = null) =>
  st(replicas, { lastChangeAt: ago(3_600_000), lowSince: ago(3_600_000), idleSince: idleForMs === null ? null : ago(idleForMs) })

const cases: ReadonlyArray<Case> = [
  // desired = ceil(backlog / targetPending), clamped
  { name: "ceil: backlog 11 / 10 -> 2", state: st(1), backlog: 11, replicas: 2, kind: "scale-up" },
  { name: "clamps to maxReplicas", state: st(2), backlog: 230, replicas: 5, kind: "scale-up", reason: /backlog 230 \/ targetPending 10 = 23, clamped to maxReplicas 5/ },
  { name: "clamps to minReplicas", config: { minReplicas: 2 }, state: st(2), backlog: 1, replicas: 2, kind: "hold", reason: /clamped to minReplicas 2/ },
  { name: "above maxReplicas (config lowered) -> max at once", state: st(8, { lastChangeAt: ago(1) }), backlog: 0, replicas: 5, kind: "scale-down" },
  // activation
  { name: "activation 1: backlog 0 stays at 0", state: st(0), backlog: 0, replicas: 0, kind: "hold", reason: /idle at 0/ },
  { name: "activation 1: backlog 1 wakes to 1", state: st(0), backlog: 1, replicas: 1, kind: "wake" },
  { name: "activation 5: backlog 4 stays at 0", config: { activation: 5 }, state: st(0), backlog: 4, replicas: 0, kind: "hold", reason: /backlog 4 below activation 5/ },
  { name: "activation 5: backlog 5 wakes to 1", config: { activation: 5 }, state: st(0), backlog: 5, replicas: 1, kind: "wake" },
  { name: "activation 5: backlog 35 wakes to 4", config: { activation: 5 }, state: st(0), backlog: 35, replicas: 4, kind: "wake" },
  { name: "activation 0: backlog 0 still stays at 0", config: { activation: 0 }, state: st(0), backlog: 0, replicas: 0, kind: "hold" },
  { name: "maxReplicas 0: never wakes", config: { maxReplicas: 0 }, state: st(0), backlog: 50, replicas: 0, kind: "hold" },
  // scale up at once, whatever the scale-down delay
  { name: "0 -> 5 at once (backlog 200, target 10, max 5)", state: st(0), backlog: 200, replicas: 5, kind: "wake", reason: /clamped to maxReplicas 5/ },
  { name: "1 -> 5 at once, 1ms after the last change", state: st(1, { lastChangeAt: ago(1) }), backlog: 200, replicas: 5, kind: "scale-up" },
  // step down (default half: ceil(replicas / 2), never below desired), spaced by scaleDownDelay
  { name: "step down 4 -> 2 once delay has passed", state: st(4, { lastChangeAt: ago(10_000), lowSince: ago(10_000), idleSince: ago(10_000) }), backlog: 0, replicas: 2, kind: "scale-down", reason: /scale down 4 -> 2 \(half\)/ },
  { name: "step down by half: 5 -> 3 even if desired is 1", state: settled(5), backlog: 5, replicas: 3, kind: "scale-down" },
  { name: "step down by half stops at desired: 4 -> 3 when desired is 3", state: settled(4), backlog: 25, replicas: 3, kind: "scale-down" },
  { name: "step one: 4 -> 3 even if desired is 2", config: { step: { up: { _tag: "jump" }, down: "one" } }, state: settled(4), backlog: 15, replicas: 3, kind: "scale-down", reason: /\(one step\)/ },
  { name: "hold inside delay since last change", state: st(4, { lastChangeAt: ago(4_000), lowSince: ago(60_000) }), backlog: 15, replicas: 4, kind: "hold", reason: /scale-down delay: 4s of 10s elapsed/ },
  { name: "hold until desired has been low for the delay", state: st(4, { lowSince: ago(9_999) }), backlog: 15, replicas: 4, kind: "hold", reason: /desired below 4 for 9s 999ms of 10s/ },
  { name: "fresh state: first low observation only starts the window", state: st(4), backlog: 15, replicas: 4, kind: "hold" },
  { name: "lastChangeAt null counts as long ago", state: st(4, { lowSince: ago(10_000) }), backlog: 15, replicas: 2, kind: "scale-down" },
  // no step below 1 before idleTimeout
  { name: "2 -> 1 while idle < idleTimeout", state: settled(2, 30_000), backlog: 0, replicas: 1, kind: "scale-down" },
  { name: "keeps 1 while idle < idleTimeout", state: settled(1, 59_999), backlog: 0, replicas: 1, kind: "hold", reason: /until idle: backlog 0 for 59s 999ms of idleTimeout 1m/ },
  { name: "keeps 1 while backlog > 0", state: settled(1), backlog: 1, replicas: 1, kind: "hold" },
  // straight to minReplicas after idleTimeout, regardless of scaleDownDelay
  { name: "1 -> 0 after idleTimeout", state: settled(1, 60_000), backlog: 0, replicas: 0, kind: "idle" },
  { name: "4 -> 0 after idleTimeout, inside scale-down delay", state: st(4, { lastChangeAt: ago(1), idleSince: ago(60_000) }), backlog: 0, replicas: 0, kind: "idle", reason: /idleTimeout 1m/ },
  { name: "idleTimeout 0: 1 -> 0 on the first empty look", config: { idleTimeoutMs: 0 }, state: settled(1), backlog: 0, replicas: 0, kind: "idle" },
  // minReplicas > 0 is a floor
  { name: "min 2: 0 -> 2 at once, no backlog", config: { minReplicas: 2 }, state: st(0), backlog: 0, replicas: 2, kind: "scale-up", reason: /below minReplicas 2/ },
  { name: "min 2: 0 -> desired when larger", config: { minReplicas: 2 }, state: st(0), backlog: 45, replicas: 5, kind: "scale-up" },
  { name: "min 2: 3 -> 2 step", config: { minReplicas: 2 }, state: settled(3, 10_000), backlog: 0, replicas: 2, kind: "scale-down" },
  { name: "min 2: idle goes to 2, not 0", config: { minReplicas: 2 }, state: settled(4, 60_000), backlog: 0, replicas: 2, kind: "idle" },
  { name: "min 2: at 2 and idle long -> hold", config: { minReplicas: 2 }, state: settled(2, 3_600_000), backlog: 0, replicas: 2, kind: "hold" },
  // bad input from the caller is clamped to 0
  { name: "negative backlog counts as 0", state: st(0), backlog: -5, replicas: 0, kind: "hold" },
  { name: "NaN backlog counts as 0", state: settled(1, 60_000), backlog: Number.NaN, replicas: 0, kind: "idle" }
]

describe("decide (table)", () => {
  it.each(cases)("$name", ({ backlog, config, kind, reason, replicas, state }) => {
    const d = decide(backlog, state, { ...base, ...config }, NOW)
    expect({ replicas: d.replicas, kind: d.kind }).toEqual({ replicas, kind })
    expect(d.state.replicas).toBe(replicas)
    expect(d.state.lastChangeAt).toBe(replicas === state.replicas ? state.lastChangeAt : NOW)
    if (reason) expect(d.reason).toMatch(reason)
  })
})

describe("decide (state)", () => {
  it("idleSince is set on the first empty look and kept while empty", () => {
    const d1 = decide(0, settled(3), base, NOW)
    expect(d1.state.idleSince).toBe(NOW)
    const d2 = decide(0, d1.state, base, NOW + 5_000)
    expect(d2.state.idleSince).toBe(NOW)
  })

  it("a single nonzero backlog resets the idle timer", () => {
    const s0 = settled(1, 59_000) // idle for 59s of 60s
    const d1 = decide(1, s0, base, NOW) // one message arrives
    expect(d1.state.idleSince).toBeNull()
    expect(d1.replicas).toBe(1)
    const d2 = decide(0, d1.state, base, NOW + 1_000) // would have been 60s idle
    expect([d2.kind, d2.replicas, d2.state.idleSince]).toEqual(["hold", 1, NOW + 1_000])
    const d3 = decide(0, d2.state, base, NOW + 61_000)
    expect([d3.kind, d3.replicas]).toEqual(["idle", 0])
  })

  it("fromQueueConfig converts durations to ms", () => {
    expect(fromQueueConfig({
      minReplicas: 0,
      maxReplicas: 5,
      targetPending: 10,
      activation: 1,
      idleTimeout: Duration.minutes(5),
      scaleDownDelay: Duration.seconds(30)
    })).toEqual({ ...base, idleTimeoutMs: 300_000, scaleDownDelayMs: 30_000 })
  })
})

interface Change {
  readonly t: number
  readonly kind: DecisionKind
  readonly replicas: number
}

/** Ticks once per virtual second for `seconds`, feeding backlogAt(t) and recording replica changes. */
const simulate = (config: PolicyConfig, start: PolicyState, seconds: number, backlogAt: (t: number) => number) =>
  Effect.gen(function*() {
    let state = start
    const changes: Array<Change> = []
    const replicas: Array<number> = []
    for (let t = 0; t < seconds; t++) {
      const d = yield* decideNow(backlogAt(t), state, config)
      if (d.replicas !== state.replicas) changes.push({ t, kind: d.kind, replicas: d.replicas })
      replicas.push(d.replicas)
      state = d.state
      yield* TestClock.adjust("1 second")
    }
    return { changes, replicas, state }
  })

describe("simulation (TestClock)", () => {
  const flapCfg: PolicyConfig = { ...base, idleTimeoutMs: 30_000, scaleDownDelayMs: 10_000 }
  const bound = 1 + 60_000 / flapCfg.scaleDownDelayMs

  it.effect.each([1, 2, 5])("backlog flapping 0/15 every %ss for a minute is bounded", (period) =>
    Effect.gen(function*() {
      const { changes, replicas } = yield* simulate(flapCfg, initialState(0), 60, (t) =>
        Math.floor(t / period) % 2 === 0 ? 0 : 15)
      assert.isAtMost(changes.length, bound)
      expect(changes).toEqual([{ t: period, kind: "wake", replicas: 2 }]) // stabilization: never a down/up pair
      assert.isTrue(replicas.slice(period).every((r) => r === 2))
    }))

  it.effect("flapping while over-provisioned steps down to 2 and stays", () =>
    Effect.gen(function*() {
      const { changes } = yield* simulate(flapCfg, initialState(5), 60, (t) => (t % 2 === 0 ? 0 : 15))
      assert.isAtMost(changes.length, bound)
      expect(changes).toEqual([
        { t: 10, kind: "scale-down", replicas: 3 }, // half of 5, rounded up
        { t: 20, kind: "scale-down", replicas: 2 }
      ])
    }))

  it.effect("full lifecycle 0 -> N -> 0", () =>
    Effect.gen(function*() {
      const cfg: PolicyConfig = { ...base, activation: 5, idleTimeoutMs: 60_000, scaleDownDelayMs: 10_000 }
      const backlogAt = (t: number) => (t < 5 ? 3 : t < 10 ? 8 : t < 20 ? 40 : t < 30 ? 200 : 0)
      const { changes, replicas, state } = yield* simulate(cfg, initialState(0), 120, backlogAt)
      expect(changes).toEqual([
        { t: 5, kind: "wake", replicas: 1 }, // backlog 8 >= activation 5 (3 did not wake it)
        { t: 10, kind: "scale-up", replicas: 4 }, // 40 / 10
        { t: 20, kind: "scale-up", replicas: 5 }, // 200 / 10 = 20, clamped to 5
        { t: 40, kind: "scale-down", replicas: 3 }, // backlog 0 from t=30; first step (half) after 10s
        { t: 50, kind: "scale-down", replicas: 2 },
        { t: 60, kind: "scale-down", replicas: 1 }, // then kept at 1 until idle for 60s
        { t: 90, kind: "idle", replicas: 0 }
      ])
      assert.deepStrictEqual(replicas.slice(0, 5), [0, 0, 0, 0, 0])
      assert.strictEqual(replicas[119], 0)
      assert.strictEqual(state.lastChangeAt, 90_000) // TestClock starts at 0
    }))
})

const obs = (o: Partial<Observation> = {}): Observation => ({ pending: 0, ackPending: 0, ...o })

describe("signals in decide", () => {
  it("a number is { pending: n, ackPending: 0 }", () => {
    for (const n of [0, 1, 15, 230]) {
      for (const s of [st(0), settled(4), st(2)]) {
        expect(decide(n, s, base, NOW)).toEqual(decide(obs({ pending: n }), s, base, NOW))
      }
    }
  })

  it("the backlog is pending + ackPending", () => {
    const d = decide(obs({ pending: 8, ackPending: 13 }), st(1), base, NOW)
    expect([d.replicas, d.signal, d.wanted]).toEqual([3, "backlog", 3])
    expect(d.reason).toMatch(/backlog 21 \/ targetPending 10 = 2\.1 -> 3/)
  })

  it("the largest signal decides and is named", () => {
    const cfg: PolicyConfig = { ...base, maxReplicas: 10, signals: ["backlog", "waitTime"], targetWaitMs: 5_000 }
    const d = decide(obs({ pending: 5, oldestWaitMs: 12_000 }), st(2), cfg, NOW)
    expect([d.kind, d.replicas, d.signal, d.wanted]).toEqual(["scale-up", 5, "waitTime", 5])
    expect(d.reason).toBe("scale up 2 -> 5: waitTime: oldest 12s / targetWait 5s x 2 running = 4.8 -> 5; others: backlog 0.5")
  })

  it("each signal can decide", () => {
    const cfg: PolicyConfig = { ...base, maxReplicas: 20, signals: ["backlog", "waitTime", "utilization", "rate"], concurrency: 2 }
    const at = (o: Observation) => decide(o, st(2), cfg, NOW)
    expect(at(obs({ pending: 45 })).signal).toBe("backlog")
    expect(at(obs({ oldestWaitMs: 60_000 })).signal).toBe("waitTime")
    expect(at(obs({ inFlight: 4, ackPending: 4 })).signal).toBe("utilization") // saturated: 4/(2*0.8) = 2.5 -> 3
    expect(at(obs({ arrivalPerSec: 20, meanJobMs: 1_000 })).signal).toBe("rate") // 20 * 1 / 2 = 10
    expect(at(obs({ arrivalPerSec: 20, meanJobMs: 1_000 })).replicas).toBe(10)
  })

  it("ties go to the first signal listed; all zero still names one", () => {
    const d = decide(obs({ pending: 20, arrivalPerSec: 2, meanJobMs: 1_000 }), st(2), { ...base, signals: ["rate", "backlog"] }, NOW)
    expect([d.kind, d.signal]).toEqual(["hold", "rate"])
    expect(decide(0, st(0), base, NOW).signal).toBe("backlog")
  })

  it("wanted is the clamped desired count, before steps and delays", () => {
    const cfg: PolicyConfig = { ...base, maxReplicas: 8, step: { up: { _tag: "add", n: 1 }, down: "half" } }
    const up = decide(50, st(2), cfg, NOW)
    expect([up.replicas, up.wanted]).toEqual([3, 5])
    expect(up.reason).toMatch(/scale up 2 -> 3 \(step add 1 of 5 wanted\)/)
    expect(decide(500, st(2), cfg, NOW).wanted).toBe(8)
    const held = decide(15, st(4, { lastChangeAt: ago(1) }), cfg, NOW)
    expect([held.kind, held.replicas, held.wanted]).toEqual(["hold", 4, 2])
    expect(decide(0, st(3), { ...cfg, minReplicas: 1 }, NOW).wanted).toBe(1)
  })

  it("above maxReplicas no signal decides", () => {
    const d = decide(100, st(9), base, NOW)
    expect([d.kind, d.replicas, d.signal, d.wanted]).toEqual(["scale-down", 5, undefined, 5])
  })

  it("after idleTimeout a queue goes to what the raw signals still want (the rate keeps one)", () => {
    const cfg: PolicyConfig = { ...base, signals: ["backlog", "rate"] }
    const d = decide(obs({ arrivalPerSec: 2, meanJobMs: 600 }), settled(3, 60_000), cfg, NOW)
    expect([d.kind, d.replicas, d.signal]).toEqual(["idle", 2, "rate"]) // 1.2 -> 2
    const none = decide(obs(), settled(3, 60_000), cfg, NOW)
    expect([none.kind, none.replicas]).toEqual(["idle", 0])
  })

  it("fromQueueConfig maps the signal settings", () => {
    expect(fromQueueConfig({
      minReplicas: 1,
      maxReplicas: 9,
      targetPending: 4,
      activation: 2,
      idleTimeout: Duration.minutes(1),
      scaleDownDelay: Duration.seconds(5),
      signals: ["backlog", "utilization"],
      targetWait: Duration.seconds(3),
      scaleUpAt: 0.7,
      scaleDownAt: 0.3,
      concurrency: 4,
      smoothing: Duration.seconds(20),
      step: { up: { _tag: "double" }, down: "one" }
    })).toEqual({
      minReplicas: 1,
      maxReplicas: 9,
      targetPending: 4,
      activation: 2,
      idleTimeoutMs: 60_000,
      scaleDownDelayMs: 5_000,
      signals: ["backlog", "utilization"],
      targetWaitMs: 3_000,
      scaleUpAt: 0.7,
      scaleDownAt: 0.3,
      concurrency: 4,
      smoothingMs: 20_000,
      step: { up: { _tag: "double" }, down: "one" }
    })
  })
})

describe("step rules", () => {
  const wide: PolicyConfig = { ...base, maxReplicas: 20 }
  it.each([
    { up: { _tag: "jump" } as const, from: 2, backlog: 90, to: 9 },
    { up: { _tag: "double" } as const, from: 2, backlog: 90, to: 4 },
    { up: { _tag: "double" } as const, from: 1, backlog: 90, to: 2 },
    { up: { _tag: "double" } as const, from: 3, backlog: 50, to: 5 }, // never past desired
    { up: { _tag: "add", n: 3 } as const, from: 2, backlog: 90, to: 5 },
    { up: { _tag: "add", n: 3 } as const, from: 2, backlog: 30, to: 3 },
    // a wake from zero is a scale-up from 0 too: double -> 1, add n -> n
    { up: { _tag: "jump" } as const, from: 0, backlog: 90, to: 9 },
    { up: { _tag: "double" } as const, from: 0, backlog: 90, to: 1 },
    { up: { _tag: "add", n: 3 } as const, from: 0, backlog: 90, to: 3 }
  ])("up $up._tag: $from -> $to (backlog $backlog)", ({ backlog, from, to, up }) => {
    const d = decide(backlog, st(from), { ...wide, step: { up, down: "half" } }, NOW)
    expect([d.kind, d.replicas]).toEqual([from === 0 ? "wake" : "scale-up", to])
  })

  it.each([
    { down: "one" as const, from: 6, backlog: 5, min: 0, to: 5 },
    { down: "half" as const, from: 6, backlog: 5, min: 0, to: 3 },
    { down: "half" as const, from: 3, backlog: 5, min: 0, to: 2 },
    { down: "half" as const, from: 2, backlog: 5, min: 0, to: 1 },
    { down: "half" as const, from: 9, backlog: 61, min: 0, to: 7 }, // desired 7 > ceil(9/2)
    { down: "jump" as const, from: 6, backlog: 5, min: 0, to: 1 },
    { down: "jump" as const, from: 6, backlog: 0, min: 0, to: 1 }, // never below 1 before idleTimeout
    { down: "jump" as const, from: 6, backlog: 0, min: 2, to: 2 },
    { down: "half" as const, from: 8, backlog: 0, min: 3, to: 4 }
  ])("down $down: $from -> $to (backlog $backlog, min $min)", ({ backlog, down, from, min, to }) => {
    const d = decide(backlog, settled(from, backlog === 0 ? 1_000 : null), { ...wide, minReplicas: min, step: { up: { _tag: "jump" }, down } }, NOW)
    expect([d.kind, d.replicas]).toEqual(["scale-down", to])
  })

  it("half at 1 replica keeps it until idle", () => {
    const d = decide(0, settled(1, 1_000), base, NOW)
    expect([d.kind, d.replicas]).toEqual(["hold", 1])
    expect(d.reason).toMatch(/keeping 1 replica\(s\) until idle/)
  })
})

describe("smoothing", () => {
  const smooth: PolicyConfig = { ...base, maxReplicas: 10, smoothingMs: 10_000 }

  it("keeps the EWMA in the state: after one half-life the value is halfway", () => {
    const d0 = decide(10, st(1), smooth, NOW)
    expect(d0.state.smoothed).toEqual({ at: NOW, values: { backlog: 1 } })
    const d1 = decide(90, d0.state, smooth, NOW + 10_000)
    expect(d1.state.smoothed?.values.backlog).toBeCloseTo(5, 9) // 1 + (9 - 1) / 2
    expect([d1.replicas, d1.wanted]).toEqual([5, 5])
    expect(d1.reason).toMatch(/backlog 90 \/ targetPending 10 = 9, smoothed 5$/)
  })

  it("without smoothing there is no memory", () => {
    expect(decide(10, st(1), base, NOW).state.smoothed).toBeUndefined()
  })

  it("a wake from zero reads the raw backlog and activation", () => {
    const long = { at: NOW - 3_600_000, values: { backlog: 0 } }
    const d = decide(1, st(0, { smoothed: long }), smooth, NOW)
    expect([d.kind, d.replicas]).toEqual(["wake", 1])
    const held = decide(4, st(0, { smoothed: long }), { ...smooth, activation: 5 }, NOW)
    expect([held.kind, held.replicas]).toEqual(["hold", 0])
  })

  it("idle reaches zero though the EWMA never does, and the memory restarts there", () => {
    const s = settled(1, 60_000)
    const d = decide(0, { ...s, smoothed: { at: NOW - 1_000, values: { backlog: 3 } } }, smooth, NOW)
    expect([d.kind, d.replicas]).toEqual(["idle", 0])
    expect(d.state.smoothed).toEqual({ at: NOW, values: { backlog: 0 } })
  })
})

describe("simulation with signals (TestClock)", () => {
  it.effect("a two-second backlog spike: smoothing adds 2 replicas where the raw backlog jumps to 10", () =>
    Effect.gen(function*() {
      const cfg: PolicyConfig = { ...base, minReplicas: 1, maxReplicas: 10, idleTimeoutMs: 600_000 }
      const backlogAt = (t: number) => (t >= 10 && t < 12 ? 100 : 10)
      const raw = yield* simulate(cfg, initialState(1), 30, backlogAt)
      assert.strictEqual(Math.max(...raw.replicas), 10)
      yield* TestClock.setTime(0)
      const smoothed = yield* simulate({ ...cfg, smoothingMs: 10_000 }, initialState(1), 30, backlogAt)
      // 1 + 9 * (1 - 2^-0.1) = 1.6 -> 2, then 1.6 + 8.4 * (1 - 2^-0.1) = 2.16 -> 3
      expect(smoothed.changes.slice(0, 2)).toEqual([
        { t: 10, kind: "scale-up", replicas: 2 },
        { t: 11, kind: "scale-up", replicas: 3 }
      ])
      assert.strictEqual(Math.max(...smoothed.replicas), 3)
    }))

  it.effect("sustained load with smoothing: halfway after one half-life", () =>
    Effect.gen(function*() {
      const cfg: PolicyConfig = { ...base, minReplicas: 1, maxReplicas: 10, smoothingMs: 10_000 }
      const { replicas } = yield* simulate(cfg, initialState(1), 61, (t) => (t === 0 ? 10 : 100))
      assert.strictEqual(replicas[10], 6) // 1 + 9 / 2 = 5.5 -> 6
      assert.strictEqual(replicas[20], 8) // 1 + 9 * 3/4 = 7.75 -> 8
      assert.strictEqual(replicas[60], 10)
    }))

  it.effect("scale-in halves every scaleDownDelay, keeps 1, then idles to 0", () =>
    Effect.gen(function*() {
      const cfg: PolicyConfig = { ...base, maxReplicas: 10, idleTimeoutMs: 120_000, scaleDownDelayMs: 10_000 }
      const { changes } = yield* simulate(cfg, initialState(8), 130, () => 0)
      expect(changes).toEqual([
        { t: 10, kind: "scale-down", replicas: 4 },
        { t: 20, kind: "scale-down", replicas: 2 },
        { t: 30, kind: "scale-down", replicas: 1 },
        { t: 120, kind: "idle", replicas: 0 }
      ])
    }))

  it.effect("double on the way up: 1, 2, 4, 8, 10 one step per tick", () =>
    Effect.gen(function*() {
      const cfg: PolicyConfig = { ...base, maxReplicas: 10, step: { up: { _tag: "double" }, down: "half" } }
      const { changes } = yield* simulate(cfg, initialState(0), 6, () => 200)
      expect(changes.map((c) => c.replicas)).toEqual([1, 2, 4, 8, 10])
      expect(changes[0]!.kind).toBe("wake")
    }))
})

describe("steady load and scale-down windows", () => {
  const cfg: PolicyConfig = { ...base, maxReplicas: 20, targetPending: 10, concurrency: 4, scaleDownDelayMs: 10_000, idleTimeoutMs: 30_000 }
  const at = (replicas: number): PolicyState => ({ ...initialState(replicas), lastChangeAt: 0 })

  it("the backlog signal never wants fewer replicas than carry the jobs in flight", () => {
    // A drained queue under load: 40 jobs running on 10 replicas, none waiting: 40 / 10 = 4, but 40 / 4 slots = 10.
    const d = decide({ pending: 0, ackPending: 40, inFlight: 40 }, at(10), cfg, 60_000)
    assert.strictEqual(d.wanted, 10)
    assert.strictEqual(d.replicas, 10)
    assert.match(d.reason, /below 40 in flight \/ concurrency 4 = 10/)
  })

  it("a step down goes no lower than the largest count wanted since the count became too high", () => {
    let s = at(10)
    const step = (t: number, backlog: number) => {
      const d = decide({ pending: backlog, ackPending: 0 }, s, cfg, t)
      s = d.state
      return d
    }
    assert.strictEqual(step(20_000, 70).replicas, 10) // wants 7: the window opens
    assert.strictEqual(step(25_000, 20).replicas, 10) // wants 2
    const down = step(30_000, 20) // 10 s low: down, but to the window's peak 7, not half (5) or 2
    assert.strictEqual(down.replicas, 7)
    assert.match(down.reason, /7 wanted at the peak of the last 10s/)
    // The change opens a new window measured against 7.
    assert.strictEqual(step(35_000, 20).replicas, 7)
    assert.strictEqual(step(40_000, 20).replicas, 4) // half of 7, the peak of the new window being 2
  })
})
