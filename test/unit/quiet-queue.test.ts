// When a tick may skip a queue's reconcile step (1,000 idle queues must cost next to nothing), as a table.
import { Duration } from "effect"
import { describe, expect, it } from "vitest"
import { initialStatus, quietRefreshMs, skipsStep, type QueueStatus } from "../../src/scaler/queue-loop.ts"
import { testQueue } from "../support/queue.ts"

const atZero: QueueStatus = { ...initialStatus(testQueue("quiet", { idleTimeout: Duration.seconds(3) })), pending: 0, ackPending: 0 }
const input = (over: { status?: Partial<QueueStatus>; seen?: boolean; level?: number | undefined; sinceMs?: number } = {}) => ({
  last: { status: { ...atZero, ...over.status }, atMs: 1_000 },
  seen: over.seen ?? false,
  level: "level" in over ? over.level : 0,
  nowMs: 1_000 + (over.sinceMs ?? 1_000)
})

describe("skipsStep", () => {
  it.each([
    ["a quiet queue, last step 1 s ago", input(), true],
    ["its last full step is quietRefresh old", input({ sinceMs: quietRefreshMs }), false],
    ["its activator saw a message", input({ seen: true }), false],
    ["its stream holds messages", input({ level: 3 }), false],
    ["its stream level is unknown (the read failed)", input({ level: undefined }), false],
    ["it wants replicas", input({ status: { desired: 1 } }), false],
    ["a replica runs", input({ status: { running: 1, replicas: 1 } }), false],
    ["a replica drains", input({ status: { draining: 1 } }), false],
    ["an override holds it", input({ status: { override: { replicas: 0, until: "2026-12-01T00:00:00Z" } } }), false],
    ["its last step failed", input({ status: { reconcileError: "boom" } }), false]
  ])("%s -> %s", (_what, i, skips) => {
    expect(skipsStep(i)).toBe(skips)
  })
})
