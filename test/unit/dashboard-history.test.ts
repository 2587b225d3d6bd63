// The dashboard's history, pure: the ring of samples, jobs/s from per-second counts, and the
// per-queue state that samples come into and removed queues drop out of.
import { describe, expect, it } from "vitest"
import { recordJobs, recordSample, historyOf, sampleEveryMs, windowMs, type HistoryState } from "../../src/admin/history.ts"
import { addJobs, emptyJobCounts, emptyRing, jobRate, pushRing, rateWindowSeconds } from "../../src/admin/series.ts"
import type { JobReportEntry } from "../../src/telemetry/job-report.ts"
import type { QueueStatus } from "../../src/scaler/reconcile.ts"

describe("ring", () => {
  it("keeps the newest `capacity` items, oldest first", () => {
    let ring = emptyRing<number>(3)
    for (const n of [1, 2]) ring = pushRing(ring, n)
    expect(ring.items).toEqual([1, 2])
    for (const n of [3, 4, 5]) ring = pushRing(ring, n)
    expect(ring.items).toEqual([3, 4, 5])
    expect(ring.capacity).toBe(3)
  })
  it("never holds more than its capacity however much is pushed", () => {
    let ring = emptyRing<number>(180)
    for (let i = 0; i < 10_000; i++) ring = pushRing(ring, i)
    expect(ring.items).toHaveLength(180)
    expect(ring.items[0]).toBe(10_000 - 180)
  })
  it("has room for at least one item", () => {
    expect(pushRing(pushRing(emptyRing<string>(0), "a"), "b").items).toEqual(["b"])
  })
})

describe("jobs/s", () => {
  const t0 = 1_000_000_000_000
  it("averages the last 10 seconds", () => {
    let c = emptyJobCounts(t0 - 60_000)
    for (let s = 0; s < 20; s++) c = addJobs(c, t0 + s * 1000, 30, s % 2 === 0 ? 3 : 0)
    expect(jobRate(c, t0 + 19_500)).toEqual({ done: 30, failed: 1.5 })
  })
  it("merges reports within one second and forgets seconds out of the window", () => {
    let c = emptyJobCounts(t0 - 60_000)
    c = addJobs(c, t0 + 100, 4, 0)
    c = addJobs(c, t0 + 900, 6, 1)
    expect(c.seconds).toEqual([{ second: t0 / 1000, done: 10, failed: 1 }])
    for (let s = 1; s < 100; s++) c = addJobs(c, t0 + s * 1000, 1, 0)
    expect(c.seconds.length).toBeLessThanOrEqual(rateWindowSeconds + 1)
  })
  it("is 0 when nothing was reported lately", () => {
    const c = addJobs(emptyJobCounts(t0 - 60_000), t0, 100, 0)
    expect(jobRate(c, t0 + 11_000)).toEqual({ done: 0, failed: 0 })
  })
  it("divides by the time counted so far when that is under the window (at least a second)", () => {
    const c = addJobs(emptyJobCounts(t0), t0 + 500, 8, 0)
    expect(jobRate(c, t0 + 2000).done).toBe(4)
    expect(jobRate(c, t0 + 600).done).toBe(8)
  })
})

const status = (name: string, over: Partial<QueueStatus> = {}): QueueStatus => ({
  name, stream: `JETSCALE_${name.toUpperCase()}`, consumer: "workers", pending: 10, ackPending: 3, desired: 2, running: 1, replicas: 1, draining: 1,
  suspended: 0, suspending: 0, lastDecision: null, override: null, reconcileError: null, wanted: 2, granted: null, signal: null, schedule: null, ...over
})
const report = (outcome: JobReportEntry["outcome"], count: number): JobReportEntry => ({ outcome, count, seconds: 0.1 * count, le: 0.1 })

describe("history state", () => {
  const t0 = 1_000_000_000_000
  it("samples backlog (pending + in flight), in flight, running, draining, desired and jobs/s", () => {
    let s: HistoryState = new Map()
    s = recordJobs(s, "a", [report("succeeded", 20), report("dead_lettered", 5)], t0)
    s = recordSample(s, [status("a")], t0 + 5000)
    const h = historyOf(s.get("a")!, t0 + 5000)
    expect(h.samples).toEqual([{ at: t0 + 5000, backlog: 13, inFlight: 3, running: 1, draining: 1, desired: 2, jobsPerSecond: 5 }])
    expect(h.rate).toEqual({ done: 5, failed: 1 })
  })
  it("a status not read yet is a gap (null backlog)", () => {
    const s = recordSample(new Map(), [status("a", { pending: null, ackPending: null })], t0)
    expect(s.get("a")!.samples.items[0]).toMatchObject({ backlog: null, inFlight: null })
  })
  it("keeps 15 minutes of 5-second samples per queue, and shows none older than the window", () => {
    let s: HistoryState = new Map()
    for (let i = 0; i < 1000; i++) s = recordSample(s, [status("a", { pending: i })], t0 + i * sampleEveryMs)
    expect(s.get("a")!.samples.items).toHaveLength(windowMs / sampleEveryMs)
    const now = t0 + 999 * sampleEveryMs
    expect(historyOf(s.get("a")!, now).samples.at(-1)?.backlog).toBe(999 + 3)
    // No sample for 10 minutes (a stall): only the last 5 minutes' samples are still in the window.
    expect(historyOf(s.get("a")!, now + 10 * 60_000).samples.length).toBe(60)
  })
  it("a queue no longer running (live reload removed it) is dropped at the next sample; a new one starts", () => {
    let s = recordSample(new Map(), [status("a"), status("b")], t0)
    s = recordJobs(s, "b", [report("succeeded", 3)], t0 + 1000)
    s = recordSample(s, [status("a"), status("c")], t0 + 5000)
    expect([...s.keys()]).toEqual(["a", "c"])
    expect(s.get("a")!.samples.items).toHaveLength(2)
    expect(s.get("c")!.samples.items).toHaveLength(1)
  })
})
