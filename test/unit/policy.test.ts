// Unit tests for the pure scaling policy (src/scaler/policy.ts): table-driven rule cases, then
// TestClock-driven simulations (flapping input, full 0 -> N -> 0 lifecycle) through `decideNow`.
import { assert, describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { TestClock } from "effect/testing"
import {
  type DecisionKind,
  decide,
  decideNow,
  fromQueueConfig,
  initialState,
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
  // step down: one replica per step, spaced by scaleDownDelay
  { name: "step down 4 -> 3 once delay has passed", state: st(4, { lastChangeAt: ago(10_000), lowSince: ago(10_000), idleSince: ago(10_000) }), backlog: 0, replicas: 3, kind: "scale-down" },
  { name: "step down only one even if desired is 2", state: settled(4), backlog: 15, replicas: 3, kind: "scale-down" },
  { name: "hold inside delay since last change", state: st(4, { lastChangeAt: ago(4_000), lowSince: ago(60_000) }), backlog: 15, replicas: 4, kind: "hold", reason: /scale-down delay: 4s of 10s elapsed/ },
  { name: "hold until desired has been low for the delay", state: st(4, { lowSince: ago(9_999) }), backlog: 15, replicas: 4, kind: "hold", reason: /desired below 4 for 9s 999ms of 10s/ },
  { name: "fresh state: first low observation only starts the window", state: st(4), backlog: 15, replicas: 4, kind: "hold" },
  { name: "lastChangeAt null counts as long ago", state: st(4, { lowSince: ago(10_000) }), backlog: 15, replicas: 3, kind: "scale-down" },
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
        { t: 10, kind: "scale-down", replicas: 4 },
        { t: 20, kind: "scale-down", replicas: 3 },
        { t: 30, kind: "scale-down", replicas: 2 }
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
        { t: 40, kind: "scale-down", replicas: 4 }, // backlog 0 from t=30; first step after 10s
        { t: 50, kind: "scale-down", replicas: 3 },
        { t: 60, kind: "scale-down", replicas: 2 },
        { t: 70, kind: "scale-down", replicas: 1 }, // then kept at 1 until idle for 60s
        { t: 90, kind: "idle", replicas: 0 }
      ])
      assert.deepStrictEqual(replicas.slice(0, 5), [0, 0, 0, 0, 0])
      assert.strictEqual(replicas[119], 0)
      assert.strictEqual(state.lastChangeAt, 90_000) // TestClock starts at 0
    }))
})
