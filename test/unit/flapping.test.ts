// Flapping: under a load that swings faster than any scale-down delay (sine, mean 10 jobs/s,
// amplitude 10, period 60 s, 30 min simulated, seed 1), every preset follows the load without
// oscillating on its own. Bounds and their reasons are in docs/simulator.md ("Flapping").
import { describe, expect, it } from "vitest"
import { simulate } from "../../sim/engine.ts"
import { defaultJobs } from "../../sim/jobs.ts"
import { loadPolicy, presetNames } from "../../sim/presets.ts"
import { changesPerMinute, reversalsPerMinute } from "../../sim/stats.ts"
import { sine } from "../../sim/traces.ts"
import { makeWorkload } from "../../sim/workload.ts"

/** The sine turns twice a minute: a policy that reverses more often oscillates by itself. */
const MAX_REVERSALS_IN_ANY_MINUTE = 2
/** Following a swing from 0 to 10 replicas and back takes steps; more than one every 4 s is churn. */
const MAX_CHANGES_IN_ANY_MINUTE = 15
const MAX_MEAN_CHANGES_PER_MINUTE = 10

const workload = makeWorkload({ trace: sine(60), jobs: defaultJobs, seed: 1, durationMs: 30 * 60_000 })

describe("flapping under sine:60s", () => {
  it.each(presetNames)("%s", (name) => {
    if (typeof workload === "string") throw new Error(workload)
    const policy = loadPolicy(name, () => "")
    if (typeof policy === "string") throw new Error(policy)
    const result = simulate(workload, policy)
    const changes = changesPerMinute(result)
    const reversals = reversalsPerMinute(result)
    expect(changes).toHaveLength(30)
    const mean = changes.reduce((a, b) => a + b, 0) / changes.length
    expect(Math.max(...reversals), `${name}: direction reversals per minute (${reversals.join(",")})`).toBeLessThanOrEqual(MAX_REVERSALS_IN_ANY_MINUTE)
    expect(Math.max(...changes), `${name}: scale changes per minute (${changes.join(",")})`).toBeLessThanOrEqual(MAX_CHANGES_IN_ANY_MINUTE)
    expect(mean, `${name}: mean scale changes per minute`).toBeLessThanOrEqual(MAX_MEAN_CHANGES_PER_MINUTE)
  })
})
