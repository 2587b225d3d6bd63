// Bounded storage against a real nats-server: byte limits on JETSCALE_LOGS (discard old) and
// JETSCALE_DLQ (discard new), applied on create and in place on an existing stream; a full DLQ
// refuses new dead letters, keeps the old ones, and the job waits in its queue until there is room;
// the log sink's per-worker rate limit drops and counts lines over it (for NATS and the echo alike)
// without ever blocking.
import { jetstream } from "@nats-io/jetstream"
import { Duration, Effect, Fiber, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { afterEach, describe, expect, it } from "vitest"
import type { QueueConfig } from "../../src/config/model.ts"
import { deadLetterHeaders } from "../../src/dlq/message.ts"
import { runDeadLetterProcessor } from "../../src/dlq/processor.ts"
import { provisionDeadLettering } from "../../src/dlq/provision.ts"
import { listDeadLetters } from "../../src/dlq/read.ts"
import { isNotFound } from "../../src/jetstream/errors.ts"
import { dlqStream, dlqSubject, logsStream, logsSubject, logStreamHeader } from "../../src/jetstream/names.ts"
import { provisionQueue } from "../../src/jetstream/provision.ts"
import { provisionLogs } from "../../src/logs/provision.ts"
import { makeLogSink } from "../../src/logs/sink.ts"
import * as Metrics from "../../src/telemetry/metrics.ts"
import { NonRetryableError, startWorker } from "../../src/worker/index.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { testQueue, uniqueName } from "../support/queue.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const js = () => jetstream(nats.nc)
const mib = 1024 ** 2
const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})

const removeStream = (name: string) => nats.jsm.streams.delete(name).catch((e) => {
  if (!isNotFound(e)) throw e
})
const info = (name: string) => nats.jsm.streams.info(name)
const provisionDlq = (queues: ReadonlyArray<QueueConfig>, maxBytes: number) =>
  Effect.runPromise(provisionDeadLettering(nats.jsm, queues, { maxBytes }))

/** Stores a dead letter of `bytes` payload bytes on `jetscale.dlq.<queue>`; resolves with its DLQ sequence. */
const putDeadLetter = async (queue: string, bytes: number) => {
  const headers = deadLetterHeaders(undefined, {
    queue, stream: "JETSCALE_X", subject: `jobs.${queue}`, streamSeq: 1, deliveries: 1, reason: "rejected", error: "filler", failedAt: new Date()
  })
  return (await js().publish(dlqSubject(queue), new Uint8Array(bytes), { headers })).seq
}

describe("JETSCALE_LOGS byte limit", () => {
  const day = Duration.hours(24)

  it("created with max_bytes and discard old; updated in place when the limit changes; lines kept", async () => {
    await removeStream(logsStream)
    expect(await Effect.runPromise(provisionLogs(nats.jsm, day, 8 * mib))).toBe("created")
    expect((await info(logsStream)).config).toMatchObject({ max_bytes: 8 * mib, discard: "old" })
    nats.nc.publish(logsSubject("q", "i"), "a line")
    await waitFor("the line stored", async () => (await info(logsStream)).state.messages === 1)

    expect(await Effect.runPromise(provisionLogs(nats.jsm, day, 16 * mib))).toBe("updated")
    expect((await info(logsStream)).config.max_bytes).toBe(16 * mib)
    expect((await info(logsStream)).state.messages).toBe(1)
    expect(await Effect.runPromise(provisionLogs(nats.jsm, day, 16 * mib))).toBe("unchanged")
    expect(await Effect.runPromise(provisionLogs(nats.jsm, day))).toBe("updated")
    expect((await info(logsStream)).config.max_bytes).toBe(1024 * mib)
  })

  it("a stream made without a byte limit gets one; when full, the oldest lines go", async () => {
    await removeStream(logsStream)
    await nats.jsm.streams.add({ name: logsStream, subjects: ["jetscale.logs.>"] })
    expect((await info(logsStream)).config.max_bytes).toBe(-1)
    expect(await Effect.runPromise(provisionLogs(nats.jsm, day, mib))).toBe("updated")
    const line = "x".repeat(64 * 1024)
    for (let i = 0; i < 40; i++) nats.nc.publish(logsSubject("q", "i"), line)
    await nats.nc.flush()
    const state = await waitFor("the oldest lines dropped", async () => {
      const s = (await info(logsStream)).state
      return s.last_seq === 40 && s
    })
    expect(state.first_seq).toBeGreaterThan(1)
    expect(state.bytes).toBeLessThanOrEqual(mib)
  })
})

describe("JETSCALE_DLQ byte limit", () => {
  it("created with max_bytes and discard new; an existing DLQ is updated in place, its dead letters kept", async () => {
    await removeStream(dlqStream)
    await provisionDlq([], 2 * mib)
    expect((await info(dlqStream)).config).toMatchObject({ max_bytes: 2 * mib, discard: "new" })

    // A DLQ as an earlier jetscale made it: no byte limit, discard old.
    await removeStream(dlqStream)
    await nats.jsm.streams.add({ name: dlqStream, subjects: ["jetscale.dlq.>"], duplicate_window: 24 * 3600 * 1e9 })
    for (let i = 0; i < 3; i++) await putDeadLetter("old", 1000)
    await provisionDlq([], 4 * mib)
    const after = await info(dlqStream)
    expect(after.config).toMatchObject({ max_bytes: 4 * mib, discard: "new" })
    expect(after.state).toMatchObject({ messages: 3, first_seq: 1 })
  })

  it("refuses a limit below what the DLQ holds: the server would delete the oldest dead letters", async () => {
    await removeStream(dlqStream)
    await provisionDlq([], 2 * mib)
    for (let i = 0; i < 3; i++) await putDeadLetter("big", 100_000)
    const error = await Effect.runPromise(Effect.flip(provisionDeadLettering(nats.jsm, [], { maxBytes: 100_000 })))
    expect(error.message).toMatch(/^stream JETSCALE_DLQ: holds \d+ bytes of dead letters, more than dlq\.maxBytes 100000 bytes; lowering the limit would delete the oldest ones/)
    const after = await info(dlqStream)
    expect(after.config.max_bytes).toBe(2 * mib)
    expect(after.state).toMatchObject({ messages: 3, first_seq: 1 })
  })

  it("a full DLQ refuses new dead letters and keeps the oldest; the jobs stay queued and land once there is room", async () => {
    const rejected = testQueue("full", { maxDeliver: 100, backoff: { _tag: "list", delays: [Duration.millis(200)] } })
    const exhausted = testQueue("full", { maxDeliver: 2, backoff: { _tag: "list", delays: [Duration.millis(100)] } })
    await removeStream(dlqStream)
    for (const q of [rejected, exhausted]) await Effect.runPromise(provisionQueue(nats.jsm, q))
    await provisionDlq([rejected, exhausted], 64 * 1024)
    // Big fillers, then smaller ones, until not even a 1-byte dead letter fits.
    let fillers = 0
    let full: Error | undefined
    for (const size of [8 * 1024, 512, 1]) {
      for (let i = 0; i < 200; i++) {
        const refused = await putDeadLetter("filler", size).then(() => undefined, (e: Error) => e)
        if (refused) {
          full = refused
          break
        }
        fillers++
      }
    }
    expect(full?.message).toBe("maximum bytes exceeded")
    expect((await info(dlqStream)).state).toMatchObject({ messages: fillers, first_seq: 1 })

    const processor = Effect.runFork(runDeadLetterProcessor(js(), nats.jsm, [rejected, exhausted]))
    cleanup.push(() => Effect.runPromise(Fiber.interrupt(processor)))
    const workers = await Promise.all([
      startWorker({ handler: () => { throw new NonRetryableError("never valid") }, concurrency: 1, log: () => {},
        settings: { natsUrl: nats.server.url, queue: rejected.name, instance: uniqueName("w"), stopTimeoutMs: 5000 } }),
      startWorker({ handler: () => { throw new Error("keeps failing") }, concurrency: 1, log: () => {},
        settings: { natsUrl: nats.server.url, queue: exhausted.name, instance: uniqueName("w"), stopTimeoutMs: 5000 } })
    ])
    for (const w of workers) cleanup.push(() => w.stop())
    await js().publish(rejected.subjects[0]!, `{"id":"rejected"}`)
    await js().publish(exhausted.subjects[0]!, `{"id":"exhausted"}`)

    // The DLQ refused both: the rejected job is retried, the exhausted one waits max-delivered in its stream.
    await waitFor("the rejected job retried twice", () => workers[0]!.stats().naked >= 2, 15_000)
    await waitFor("the exhausted job's two attempts", () => workers[1]!.stats().naked >= 2, 15_000)
    await new Promise((r) => setTimeout(r, 500))
    expect((await info(rejected.stream)).state.messages).toBe(1)
    expect((await info(exhausted.stream)).state.messages).toBe(1)
    expect(await listDeadLetters(nats.jsm, rejected.name)).toEqual([])
    expect(await listDeadLetters(nats.jsm, exhausted.name)).toEqual([])
    expect((await info(dlqStream)).state).toMatchObject({ messages: fillers, first_seq: 1 })

    await nats.jsm.streams.purge(dlqStream, { filter: dlqSubject("filler") })
    const [r] = await waitFor("the rejected job in the DLQ", async () => (await listDeadLetters(nats.jsm, rejected.name)).length === 1 && listDeadLetters(nats.jsm, rejected.name), 15_000)
    const [x] = await waitFor("the exhausted job in the DLQ", async () => (await listDeadLetters(nats.jsm, exhausted.name)).length === 1 && listDeadLetters(nats.jsm, exhausted.name), 20_000)
    expect(r).toMatchObject({ reason: "rejected", error: "NonRetryableError: never valid" })
    expect(new TextDecoder().decode(r!.data)).toBe(`{"id":"rejected"}`)
    expect(x).toMatchObject({ reason: "max_deliveries", deliveries: 2 })
    expect(new TextDecoder().decode(x!.data)).toBe(`{"id":"exhausted"}`)
    await waitFor("both work streams empty", async () =>
      (await info(rejected.stream)).state.messages === 0 && (await info(exhausted.stream)).state.messages === 0)
  }, 60_000)
})

describe("log rate limit per worker instance", () => {
  it("lines over the limit are dropped and counted, the sink never blocks; a line says how many once the rate is back under", async () => {
    const queue = uniqueName("chatty")
    const registry = new Map()
    const record = Effect.runSyncWith(Effect.runSync(Effect.context<never>().pipe(Effect.provideService(Metric.MetricRegistry, registry))))
    const reported: Array<number> = []
    const echoed: Array<string> = []
    const sink = makeLogSink(nats.nc, {
      linesPerSecond: 50,
      echo: (l) => void echoed.push(`${l.instance} ${l.line}`),
      onDropped: (q, reason, n) => {
        reported.push(n)
        record(Metrics.recordLogLinesDropped(q, reason, n))
      }
    })
    const seen: Array<{ instance: string; line: string; stream: string }> = []
    const sub = nats.nc.subscribe(`jetscale.logs.${queue}.>`, {
      callback: (_e, m) => void seen.push({ instance: m.subject.split(".").at(-1)!, line: m.string(), stream: m.headers?.get(logStreamHeader) ?? "" })
    })
    cleanup.push(async () => sub.unsubscribe())

    const started = performance.now()
    for (let i = 0; i < 2000; i++) sink({ queue, instance: "a", stream: "stdout", line: `line ${i}` })
    const took = performance.now() - started
    for (let i = 0; i < 10; i++) sink({ queue, instance: "b", stream: "stdout", line: `b ${i}` })
    const dropped = sink.dropped("rate_limited")
    expect(took).toBeLessThan(500)
    expect(dropped).toBeGreaterThanOrEqual(1900)
    expect(dropped).toBeLessThanOrEqual(1950)

    const notice = `jetscale: dropped ${dropped} line(s) of this worker: over the limit of 50 lines/s (logs.linesPerSecond)`
    await waitFor("the dropped-lines notice", () => seen.some((l) => l.line === notice), 5000)
    expect(seen.filter((l) => l.line === notice)).toEqual([{ instance: "a", line: notice, stream: "stderr" }])
    expect(seen.filter((l) => l.instance === "a" && l.line !== notice)).toHaveLength(2000 - dropped)
    expect(seen.filter((l) => l.instance === "b")).toHaveLength(10)
    expect(echoed).toEqual(seen.map((l) => `${l.instance} ${l.line}`))
    await waitFor("every drop reported", () => reported.reduce((a, b) => a + b, 0) === dropped, 5000)
    const text = Effect.runSync(PrometheusMetrics.format().pipe(Effect.provideService(Metric.MetricRegistry, registry)))
    expect(text).toContain(`jetscale_log_lines_dropped_total{queue="${queue}",reason="rate_limited"} ${dropped}`)
  })
})
