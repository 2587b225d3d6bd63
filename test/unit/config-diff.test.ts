// Unit tests for what a live reload changes (src/scaler/config-diff.ts): queues added, removed and
// changed with the keys that differ, settings applied live, and those that need a restart.
import { describe, expect, it } from "vitest"
import { Result } from "effect"
import { decodeConfigResult } from "../../src/config/load.ts"
import type { JetscaleConfig } from "../../src/config/model.ts"
import { describeDiff, diffConfig, isEmptyDiff } from "../../src/scaler/config-diff.ts"

const config = (doc: Record<string, unknown>): JetscaleConfig => {
  const r = decodeConfigResult({ nats: { url: "nats://127.0.0.1:4222" }, runtime: { driver: "process" }, ...doc }, {})
  if (Result.isFailure(r)) throw new Error(r.failure.message)
  return r.success
}
const demo = { command: ["node", "w.js"], maxReplicas: 5 }
const base = config({ queues: { a: demo, b: demo } })

describe("diffConfig", () => {
  it.each([
    ["nothing", { queues: { a: demo, b: demo } }, { added: [], removed: [], changed: [], applied: [], needsRestart: [] }, "no change"],
    ["a queue added", { queues: { a: demo, b: demo, c: demo } }, { added: ["c"] }, "added queue c"],
    ["a queue removed", { queues: { a: demo } }, { removed: ["b"] }, "removed queue b"],
    ["a limit changed", { queues: { a: { ...demo, maxReplicas: 7 }, b: demo } }, { changed: [{ queue: "a", fields: ["maxReplicas"] }] }, "changed queue a (maxReplicas)"],
    ["a duration changed", { queues: { a: { ...demo, idleTimeout: "90s" }, b: demo } }, { changed: [{ queue: "a", fields: ["idleTimeout"] }] }, "changed queue a (idleTimeout)"],
    ["two keys of a queue", { queues: { a: demo, b: { ...demo, targetPending: 3, env: { X: "1" } } } }, { changed: [{ queue: "b", fields: ["env", "targetPending"] }] }, "changed queue b (env, targetPending)"],
    ["the tick, live", { scaler: { interval: "5s" }, queues: { a: demo, b: demo } }, { applied: ["scaler.interval"], needsRestart: [] }, "applied scaler.interval"],
    ["the admin address: at the next restart", { admin: { listen: "127.0.0.1:9999" }, queues: { a: demo, b: demo } }, { applied: [], needsRestart: ["admin.listen"] }, "admin.listen take effect at the next restart of the scaler"],
    ["everything at once", { dlq: { maxBytes: "2g" }, queues: { b: { ...demo, maxReplicas: 1 }, c: demo } },
      { added: ["c"], removed: ["a"], changed: [{ queue: "b", fields: ["maxReplicas"] }], applied: ["dlq.maxBytes"] },
      "added queue c; removed queue a; changed queue b (maxReplicas); applied dlq.maxBytes"]
  ])("%s", (_name, doc, expected, line) => {
    const diff = diffConfig(base, config(doc))
    expect(diff).toMatchObject(expected)
    expect(describeDiff(diff)).toBe(line)
    expect(isEmptyDiff(diff)).toBe(line === "no change")
  })

  it("names secrets' keys, never their values", () => {
    const withToken = (token: string) => config({ admin: { listen: "127.0.0.1:9464", token }, queues: { a: demo } })
    const diff = diffConfig(withToken("old-secret-token"), withToken("new-secret-token"))
    expect(diff.needsRestart).toEqual(["admin.token"])
    expect(JSON.stringify(diff)).not.toContain("secret")
  })
})
