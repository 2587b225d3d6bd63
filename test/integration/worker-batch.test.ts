// Batch handlers against a real nats-server: a batch fills up to its size or until its timeout; each
// job of a batch is settled on its own from the handler's per-job results (retried, and with
// maxDeliver dead-lettered, alone); a throw retries them all; a payload that does not decode is
// dead-lettered alone; a job not due yet is moved, not batched. Also the job times in the state report (meanJobMs, jobsDone).
import { jetstream, RetentionPolicy } from "@nats-io/jetstream"
import { headers } from "@nats-io/transport-node"
import { Duration, Effect, Fiber, Schema } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import type { QueueConfig } from "../../src/config/model.ts"
import { runDeadLetterProcessor } from "../../src/dlq/processor.ts"
import { provisionDeadLettering } from "../../src/dlq/provision.ts"
import { listDeadLetters } from "../../src/dlq/read.ts"
import { delayedStream, delayedSubjects, notBeforeHeader } from "../../src/jetstream/names.ts"
import { startWorker, type BatchHandler, type JobResult, type RunningWorker, type WorkerStateReport } from "../../src/worker/index.ts"
import { readBatchResult } from "../../src/worker/batch-result.ts"
import { makeJobTimes } from "../../src/worker/job-times.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { queueOps } from "../support/queue-ops.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const { setup, publish, streamMessages } = queueOps(nats, "wb")
// Workers stop together at the end (a stop waits up to 2 s for its open pulls): each test has a queue of its own.
const cleanup: Array<() => Promise<unknown>> = []
afterAll(() => Promise.all(cleanup.map((f) => f())))

interface Item { readonly id: string }

const batchWorker = async (q: QueueConfig, batch: { size: number; timeout: string | number }, handler: BatchHandler<Item>, schema?: Schema.Codec<Item, unknown>) => {
  const w: RunningWorker = await startWorker<Item>({
    batch, handler, ...(schema ? { schema } : {}), log: () => {},
    settings: { natsUrl: nats.server.url, queue: q.name, instance: `b-${q.name}`, stopTimeoutMs: 2000, backoff: [100] }
  })
  cleanup.push(() => w.stop())
  return w
}
const items = (...ids: Array<string>) => ids.map((id) => ({ id }))

describe("batch handlers", () => {
  it("checks batch.size and batch.timeout before connecting", async () => {
    const start = (batch: { size: number; timeout: string | number }) =>
      startWorker({ batch, handler: () => {}, settings: { natsUrl: "nats://127.0.0.1:1", queue: "q" } })
    await expect(start({ size: 0, timeout: "1s" })).rejects.toThrow(/^batch\.size: expected a whole number from 1 to 10000, got 0/)
    await expect(start({ size: 10_001, timeout: "1s" })).rejects.toThrow(/batch\.size/)
    await expect(start({ size: 10, timeout: "6m" })).rejects.toThrow(/^batch\.timeout: expected a duration from 1ms to 5m .* got "6m"/)
    await expect(start({ size: 10, timeout: "soon" })).rejects.toThrow(/batch\.timeout/)
    await expect(start({ size: 10, timeout: 0 })).rejects.toThrow(/batch\.timeout/)
  })

  it("a batch is handed over as soon as it is full; the handler's array result acks each job", async () => {
    const q = await setup()
    await publish(q, items("a", "b", "c", "d", "e", "f"))
    const batches: Array<Array<string>> = []
    const began = performance.now()
    const w = await batchWorker(q, { size: 3, timeout: "5s" }, (jobs) => {
      batches.push(jobs.map((j) => j.payload.id))
      return jobs.map((): JobResult => ({ ok: true }))
    })
    await waitFor("the stream to be empty", async () => (await streamMessages(q)) === 0, 10_000)
    expect(performance.now() - began).toBeLessThan(4000)
    expect(batches).toEqual([["a", "b", "c"], ["d", "e", "f"]])
    expect(w.stats()).toMatchObject({ acked: 6, naked: 0, inFlight: 0 })
  })

  it("a batch that does not fill up is handed over at its timeout, counted from its first job; a job not due never joins it", async () => {
    const q = await setup()
    await nats.jsm.streams.add({ name: delayedStream, subjects: [delayedSubjects], retention: RetentionPolicy.Workqueue })
    const calls: Array<{ readonly at: number; readonly ids: Array<string>; readonly jobs: ReadonlyArray<{ readonly id: string; readonly streamSeq: number; readonly deliveries: number }> }> = []
    const w = await batchWorker(q, { size: 100, timeout: "400ms" }, (jobs) => {
      calls.push({ at: performance.now(), ids: jobs.map((j) => j.payload.id), jobs: jobs.map((j) => ({ id: j.id, streamSeq: j.streamSeq, deliveries: j.deliveries })) })
    })
    const first = performance.now()
    await publish(q, items("x", "y"))
    const h = headers()
    h.set(notBeforeHeader, String(Date.now() + 60_000))
    await jetstream(nats.nc).publish(q.subjects[0]!, JSON.stringify({ id: "later" }), { headers: h })
    await publish(q, items("z"))
    await waitFor("one batch", () => calls.length === 1, 5000)
    expect(calls[0]!.ids).toEqual(["x", "y", "z"])
    expect(calls[0]!.at - first).toBeGreaterThanOrEqual(400 - 5)
    expect(calls[0]!.at - first).toBeLessThan(2500)
    expect(calls[0]!.jobs).toEqual([1, 2, 4].map((seq) => ({ id: `${q.stream}:${seq}`, streamSeq: seq, deliveries: 1 })))
    await waitFor("the stream to be empty", async () => (await streamMessages(q)) === 0, 5000)
    expect(w.stats()).toMatchObject({ acked: 3, delayed: 1 })
  })

  it("per-job results: only the failed job is retried, and dead-lettered alone at maxDeliver; retry: false dead-letters at once", async () => {
    const q = await setup({ maxDeliver: 2, backoff: { _tag: "list", delays: [Duration.millis(100)] } })
    await Effect.runPromise(provisionDeadLettering(nats.jsm, [q]))
    const processor = Effect.runFork(runDeadLetterProcessor(jetstream(nats.nc), nats.jsm, [q]))
    cleanup.push(() => Effect.runPromise(Fiber.interrupt(processor)))
    const seen: Array<string> = []
    const w = await batchWorker(q, { size: 10, timeout: "300ms" }, (jobs) => {
      for (const j of jobs) seen.push(`${j.payload.id}@${j.deliveries}`)
      return new Map(jobs.flatMap((j): Array<[string, JobResult]> =>
        j.payload.id === "bad" ? [[j.id, { error: new TypeError(`bad item ${j.payload.id}`) }]]
        : j.payload.id === "refused" ? [[j.id, { error: "refused for good", retry: false }]]
        : []))
    })
    await publish(q, items("ok-1", "bad", "refused", "ok-2"))
    const entries = await waitFor("two DLQ entries", async () => (await listDeadLetters(nats.jsm, q.name)).length === 2 && listDeadLetters(nats.jsm, q.name), 10_000)
    expect(entries.map((e) => [e.streamSeq, e.reason, e.deliveries, e.error])).toEqual([
      [3, "rejected", 1, "Error: refused for good"],
      [2, "max_deliveries", 2, "TypeError: bad item bad"]
    ])
    await waitFor("the stream to be empty", async () => (await streamMessages(q)) === 0, 5000)
    expect(seen.sort()).toEqual(["bad@1", "bad@2", "ok-1@1", "ok-2@1", "refused@1"])
    expect(w.stats()).toMatchObject({ acked: 2, naked: 2, deadLettered: 1 })
  })

  it("a throw fails the whole batch: every job is retried with the backoff; a payload that does not decode is dead-lettered alone", async () => {
    const q = await setup()
    await Effect.runPromise(provisionDeadLettering(nats.jsm, [q]))
    const batches: Array<Array<string>> = []
    const w = await batchWorker(q, { size: 10, timeout: "300ms" }, (jobs) => {
      batches.push(jobs.map((j) => `${j.payload.id}@${j.deliveries}`))
      if (jobs[0]!.deliveries === 1) throw new Error("downstream unavailable")
    }, Schema.Struct({ id: Schema.String }))
    await publish(q, [{ id: "p" }, { id: 42 }, { id: "q" }])
    await waitFor("the stream to be empty", async () => (await streamMessages(q)) === 0, 10_000)
    expect(batches).toEqual([["p@1", "q@1"], ["p@2", "q@2"]])
    const [entry, ...more] = await listDeadLetters(nats.jsm, q.name)
    expect(more).toEqual([])
    expect(entry).toMatchObject({ streamSeq: 2, reason: "invalid_payload", deliveries: 1 })
    expect(entry!.error).toContain("id:")
    expect(w.stats()).toMatchObject({ acked: 2, naked: 2, deadLettered: 1 })
  })

  it("a result that can't be read (a Map key that is no job's id) fails the whole batch rather than ack a failed job", async () => {
    const q = await setup()
    const seen: Array<number> = []
    const w = await batchWorker(q, { size: 10, timeout: "200ms" }, (jobs) => {
      seen.push(jobs[0]!.deliveries)
      if (jobs[0]!.deliveries === 1) return new Map([[String(jobs[0]!.streamSeq), { error: "keyed by the sequence, not job.id" }]])
    })
    await publish(q, items("k"))
    await waitFor("the stream to be empty", async () => (await streamMessages(q)) === 0, 5000)
    expect(seen).toEqual([1, 2])
    expect(w.stats()).toMatchObject({ acked: 1, naked: 1 })
  })

  it("a stop past stopTimeout aborts the batch being run and hands all its jobs back", async () => {
    const q = await setup()
    const aborted: Array<number> = []
    const w = await startWorker<Item>({
      batch: { size: 10, timeout: "300ms" }, log: () => {},
      settings: { natsUrl: nats.server.url, queue: q.name, instance: `b-${q.name}`, stopTimeoutMs: 200 },
      handler: (jobs, ctx) => new Promise<void>((r) => ctx.signal.addEventListener("abort", () => { aborted.push(jobs.length); r() }))
    })
    await publish(q, items("s1", "s2", "s3"))
    await waitFor("the batch running", () => w.stats().inFlight === 3, 5000)
    await w.stop()
    expect(aborted).toEqual([3])
    expect(w.stats()).toMatchObject({ acked: 0, naked: 0, inFlight: 0 })
    // Handed back with a NAK, not left to ackWait: the next pull gets them at once.
    const began = performance.now()
    const again = await jetstream(nats.nc).consumers.get(q.stream, q.consumer).then((c) => c.fetch({ max_messages: 3, expires: 5000 }))
    const redelivered: Array<[number, number]> = []
    for await (const m of again) {
      redelivered.push([m.seq, m.info.deliveryCount])
      m.ack()
    }
    expect(redelivered).toEqual([[1, 2], [2, 2], [3, 2]])
    expect(performance.now() - began).toBeLessThan(1000)
  })

  it("state reports carry jobsDone and meanJobMs: a batch's run time shared by its jobs", async () => {
    const q = await setup()
    const reports: Array<WorkerStateReport> = []
    const sub = nats.nc.subscribe(`jetscale.workers.${q.name}.>`, { callback: (_e, m) => void reports.push(m.json<WorkerStateReport>()) })
    cleanup.push(async () => sub.unsubscribe())
    await publish(q, items("1", "2", "3", "4"))
    await batchWorker(q, { size: 4, timeout: "1s" }, () => new Promise((r) => setTimeout(r, 400)))
    expect(await waitFor("the first report", () => reports[0], 2000)).toEqual({ instance: `b-${q.name}`, state: "running", inFlight: 0, jobsDone: 0 })
    const done = await waitFor("a report with 4 jobs done", () => reports.find((r) => r.jobsDone === 4), 5000)
    // 400 ms for 4 jobs in one batch: 100 ms a job.
    expect(done.meanJobMs).toBeGreaterThanOrEqual(100)
    expect(done.meanJobMs).toBeLessThan(250)
  })
})

describe("batch results and job times (pure)", () => {
  it("reads nothing, arrays and Maps into one verdict per job; refuses what it can't read", () => {
    const ids = ["S:1", "S:2"]
    expect(readBatchResult(undefined, ids)).toEqual([{ _tag: "ok" }, { _tag: "ok" }])
    // `Promise.all` of handlers that return nothing: each job succeeded.
    expect(readBatchResult([undefined, undefined], ids)).toEqual([{ _tag: "ok" }, { _tag: "ok" }])
    expect(readBatchResult([{ ok: true }, { error: "no", retry: true }], ids)).toMatchObject([{ _tag: "ok" }, { _tag: "error", nonRetryable: false }])
    expect(readBatchResult(new Map([["S:2", { error: new RangeError("x"), retry: false }]]), ids)).toMatchObject([{ _tag: "ok" }, { _tag: "error", nonRetryable: true }])
    expect(() => readBatchResult([{ ok: true }], ids)).toThrow("batch result: 1 results for 2 jobs (one per job, in order)")
    expect(() => readBatchResult([{ ok: true }, { ok: false }], ids)).toThrow("batch result [1]: expected { ok: true } or { error: Error | string, retry?: boolean }")
    expect(() => readBatchResult("done", ids)).toThrow(/^batch result: expected nothing, an array/)
  })

  it("job times: the mean of the last 60 s, the count since start", () => {
    let now = 1_000_000
    const times = makeJobTimes(() => now)
    expect(times.read()).toEqual({ meanJobMs: undefined, jobsDone: 0 })
    times.add(100)
    times.add(300)
    now += 30_000
    times.add(Number.NaN)
    expect(times.read()).toEqual({ meanJobMs: 133.333, jobsDone: 3 })
    now += 45_000
    expect(times.read()).toEqual({ meanJobMs: 0, jobsDone: 3 })
    now += 30_000
    expect(times.read()).toEqual({ meanJobMs: undefined, jobsDone: 3 })
  })
})
