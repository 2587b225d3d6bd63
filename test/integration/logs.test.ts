// Worker logs against a real nats-server: JETSCALE_LOGS provisioning, the sink's one publish that is
// both the live feed and the stored copy, reading back (--since, --instance, follow), and the
// process driver draining a worker's output into the sink before it lets the worker go.
import { DiscardPolicy, jetstream, RetentionPolicy, StorageType } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Duration, Effect } from "effect"
import { setTimeout as sleep } from "node:timers/promises"
import { describe, expect, it } from "vitest"
import { formatLogLine, parseSince } from "../../src/cli/logs.ts"
import { logsFilter, logsStream, logsSubject, logStreamHeader } from "../../src/jetstream/names.ts"
import { provisionLogs } from "../../src/logs/provision.ts"
import { LogsNotProvisioned, readLogs, type ReadLogsOptions, type StoredLogLine } from "../../src/logs/read.ts"
import { makeLogSink, teeSinks, truncatedHeader } from "../../src/logs/sink.ts"
import type { LogLine } from "../../src/runtime/driver.ts"
import { makeProcessDriver } from "../../src/runtime/process.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { testQueue, uniqueName } from "../support/queue.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const provision = (maxAge: Duration.Duration) => Effect.runPromise(provisionLogs(nats.jsm, maxAge))
const read = async (options: ReadLogsOptions) => {
  const lines: Array<StoredLogLine> = []
  await readLogs(jetstream(nats.nc), options, (l) => lines.push(l))
  return lines
}
const texts = (lines: ReadonlyArray<StoredLogLine>) => lines.map((l) => l.line)
const line = (queue: string, instance: string, text: string, stream: LogLine["stream"] = "stdout"): LogLine => ({ queue, instance, stream, line: text })

describe("logs", () => {
  it("reading before JETSCALE_LOGS exists is a clear error", async () => {
    await expect(read({ queue: "demo" })).rejects.toThrow(LogsNotProvisioned)
    await expect(read({ queue: "demo" })).rejects.toThrow(/stream JETSCALE_LOGS does not exist/)
  })

  it("provisioning creates a limits stream with max_age, is idempotent, and updates max_age in place", async () => {
    expect(await provision(Duration.hours(24))).toBe("created")
    const info = await nats.jsm.streams.info(logsStream)
    expect(info.config).toMatchObject({
      subjects: ["jetscale.logs.>"], retention: RetentionPolicy.Limits, storage: StorageType.File,
      discard: DiscardPolicy.Old, max_age: 24 * 3600 * 1e9
    })
    expect(await provision(Duration.hours(24))).toBe("unchanged")
    expect(await provision(Duration.minutes(90))).toBe("updated")
    expect((await nats.jsm.streams.info(logsStream)).config.max_age).toBe(90 * 60 * 1e9)
    expect(await provision(Duration.minutes(90))).toBe("unchanged")
    expect(await provision(Duration.hours(24))).toBe("updated")
  })

  it("a JETSCALE_LOGS that would need a recreate is refused with the way out", async () => {
    const saved = await nats.jsm.streams.info(logsStream)
    await nats.jsm.streams.delete(logsStream)
    await nats.jsm.streams.add({ name: logsStream, subjects: ["jetscale.logs.>"], retention: RetentionPolicy.Limits, storage: StorageType.Memory })
    const error = await Effect.runPromise(Effect.flip(provisionLogs(nats.jsm, Duration.hours(24))))
    expect(error._tag).toBe("ProvisionError")
    expect(error.message).toContain("stream JETSCALE_LOGS: storage is memory, jetscale needs file")
    expect(error.message).toContain("nats stream rm JETSCALE_LOGS")
    await nats.jsm.streams.delete(logsStream)
    expect(await provision(Duration.nanos(BigInt(saved.config.max_age)))).toBe("created")
  })

  it("one publish per line: a live subscriber sees it and the stream keeps it, in order, with its stream header", async () => {
    const q = uniqueName("live")
    const live: Array<{ subject: string; text: string; stream: string | undefined }> = []
    const sub = nats.nc.subscribe(`jetscale.logs.${q}.>`, {
      callback: (_e, m) => { live.push({ subject: m.subject, text: m.string(), stream: m.headers?.get(logStreamHeader) }) }
    })
    await nats.nc.flush()
    const sink = makeLogSink(nats.nc)
    const sent = Array.from({ length: 50 }, (_, i) => line(q, "a1b2c3d4", `line ${i}`, i % 10 === 9 ? "stderr" : "stdout"))
    sent.push(line(q, "a1b2c3d4", ""), line(q, "a1b2c3d4", "ünïcødé ✓"))
    for (const l of sent) sink(l)
    await sink.flush()
    await waitFor("every line live", () => live.length === sent.length)
    sub.unsubscribe()
    expect(live.map((l) => l.subject)).toEqual(sent.map(() => logsSubject(q, "a1b2c3d4")))
    expect(live.map((l) => l.text)).toEqual(sent.map((l) => l.line))
    expect(live.map((l) => l.stream)).toEqual(sent.map((l) => l.stream))

    const stored = await waitFor("every line stored", async () => {
      const lines = await read({ queue: q })
      return lines.length === sent.length && lines
    })
    expect(stored.map(({ queue, instance, stream, line }) => ({ queue, instance, stream, line }))).toEqual(sent)
    expect(stored.every((l, i) => i === 0 || l.seq > stored[i - 1]!.seq)).toBe(true)
    expect(Math.abs(stored[0]!.time.getTime() - Date.now())).toBeLessThan(30_000)
    expect(sink.dropped()).toBe(0)
  })

  it("an over-long line is cut and marked; a closed connection drops lines without throwing", async () => {
    const q = uniqueName("edge")
    const sink = makeLogSink(nats.nc, { maxLineBytes: 2048 })
    sink(line(q, "i1", "x".repeat(10_000)))
    await sink.flush()
    const stored = await waitFor("the long line", async () => {
      const lines = await read({ queue: q })
      return lines.length === 1 && lines
    })
    expect(stored[0]!.line).toBe("x".repeat(2048))
    const raw = await nats.jsm.streams.getMessage(logsStream, { seq: stored[0]!.seq })
    expect(raw?.header?.get(truncatedHeader)).toBe("10000")

    const nc = await connect({ servers: nats.server.url })
    const errors: Array<unknown> = []
    const closedSink = makeLogSink(nc, { onError: (e) => errors.push(e) })
    await nc.close()
    expect(() => closedSink(line(q, "i1", "after close"))).not.toThrow()
    await expect(closedSink.flush()).resolves.toBeUndefined()
    expect(closedSink.dropped()).toBe(1)
    expect(errors).toHaveLength(1)

    const seen: Array<string> = []
    const tee = teeSinks(() => { throw new Error("faulty sink") }, undefined, (l) => seen.push(l.line))
    expect(() => tee(line(q, "i1", "teed"))).not.toThrow()
    expect(seen).toEqual(["teed"])
  })

  it("reads one queue's lines since a time and of one instance only", async () => {
    const q = uniqueName("read")
    const other = `${q}-other` // a longer queue name with the same prefix is another queue
    const sink = makeLogSink(nats.nc)
    for (let i = 0; i < 5; i++) sink(line(q, "aaaa", `old a ${i}`))
    sink(line(q, "bbbb", "old b"))
    sink(line(other, "aaaa", "other queue"))
    await sink.flush()
    await sleep(50)
    const since = new Date()
    await sleep(50)
    sink(line(q, "aaaa", "new a"))
    sink(line(q, "bbbb", "new b", "stderr"))
    sink(line(other, "aaaa", "other queue, new"))
    await sink.flush()
    await waitFor("the new lines stored", async () => (await read({ queue: q })).length === 8)

    expect(texts(await read({ queue: q }))).toEqual(["old a 0", "old a 1", "old a 2", "old a 3", "old a 4", "old b", "new a", "new b"])
    expect(texts(await read({ queue: q, since }))).toEqual(["new a", "new b"])
    expect(texts(await read({ queue: q, instance: "bbbb" }))).toEqual(["old b", "new b"])
    expect(texts(await read({ queue: q, instance: "bbbb", since }))).toEqual(["new b"])
    expect(texts(await read({ queue: q, since: new Date(Date.now() + 60_000) }))).toEqual([])
    expect(texts(await read({ queue: q, instance: "nope" }))).toEqual([])
    expect(texts(await read({ queue: other }))).toEqual(["other queue", "other queue, new"])
    expect(logsFilter(q)).toBe(`jetscale.logs.${q}.*`)
    // Readers leave no consumers behind.
    await waitFor("no consumers left", async () => (await nats.jsm.consumers.list(logsStream).next()).length === 0, 5000)
  })

  it("without follow, reading ends at what was stored when it started, even while a worker keeps printing", async () => {
    const q = uniqueName("chatty")
    const sink = makeLogSink(nats.nc)
    for (let i = 0; i < 200; i++) sink(line(q, "c1", `early ${i}`))
    await sink.flush()
    await waitFor("the early lines stored", async () => (await read({ queue: q })).length === 200)
    let i = 0
    const timer = setInterval(() => { for (let k = 0; k < 20; k++) sink(line(q, "c1", `late ${i++}`)) }, 1)
    try {
      const lines = await read({ queue: q })
      expect(lines.length).toBeGreaterThanOrEqual(200)
      expect(texts(lines.slice(0, 200))).toEqual(Array.from({ length: 200 }, (_, k) => `early ${k}`))
    } finally {
      clearInterval(timer)
    }
  })

  it("follow prints the stored lines, then lines published after it started, until aborted", async () => {
    const q = uniqueName("follow")
    const sink = makeLogSink(nats.nc)
    sink(line(q, "f1", "before"))
    await sink.flush()
    await waitFor("the first line stored", async () => (await read({ queue: q })).length === 1)
    const ac = new AbortController()
    const got: Array<StoredLogLine> = []
    const done = readLogs(jetstream(nats.nc), { queue: q, follow: true, signal: ac.signal, since: new Date(Date.now() - 60_000) }, (l) => got.push(l))
    await waitFor("the stored line", () => got.length === 1, 10_000)
    sink(line(q, "f1", "after 1"))
    sink(line(q, "f2", "after 2", "stderr"))
    await sink.flush()
    await waitFor("the new lines", () => got.length === 3, 10_000)
    ac.abort()
    expect(await done).toBe(3)
    expect(got.map((l) => `${l.instance} ${l.stream} ${l.line}`)).toEqual(["f1 stdout before", "f1 stdout after 1", "f2 stderr after 2"])
  })

  it("follow with --since goes on after its consumer is lost (nats.js re-creates it from the last line seen)", async () => {
    const q = uniqueName("reset")
    const sink = makeLogSink(nats.nc)
    sink(line(q, "r1", "before"))
    await sink.flush()
    const ac = new AbortController()
    const got: Array<string> = []
    const done = readLogs(jetstream(nats.nc), { queue: q, follow: true, signal: ac.signal, since: new Date(Date.now() - 60_000) }, (l) => got.push(l.line))
    await waitFor("the stored line", () => got.length === 1, 10_000)
    // What a server restart does to the ephemeral consumer.
    for (const c of await nats.jsm.consumers.list(logsStream).next()) await nats.jsm.consumers.delete(logsStream, c.name)
    sink(line(q, "r1", "while lost"))
    await sink.flush()
    await waitFor("the line published while the consumer was gone", () => got.length === 2, 30_000)
    ac.abort()
    await done
    expect(got).toEqual(["before", "while lost"])
  }, 45_000)

  it("the CLI's --since parsing and line format", () => {
    const now = Date.parse("2026-11-23T21:00:00.000Z")
    expect(parseSince("10m", now)?.toISOString()).toBe("2026-11-23T20:50:00.000Z")
    expect(parseSince("1.5h", now)?.toISOString()).toBe("2026-11-23T19:30:00.000Z")
    expect(parseSince("2026-11-23T20:00:00Z", now)?.toISOString()).toBe("2026-11-23T20:00:00.000Z")
    expect(parseSince("soon", now)).toBeUndefined()
    expect(formatLogLine({ queue: "demo", instance: "ab12cd34", stream: "stderr", line: "boom", time: new Date(now), seq: 1 }))
      .toBe("2026-11-23T21:00:00.000Z demo/ab12cd34 stderr| boom")
  })

  it("process driver: every line of a worker that exits right after printing is stored before it is removed", async () => {
    const q = testQueue("plogs", {
      command: ["node", "-e", "for (let i = 0; i < 1000; i++) console.log('line ' + i); console.error('bye')"]
    })
    const sink = makeLogSink(nats.nc)
    const { driver } = makeProcessDriver({ onLog: sink })
    const worker = await Effect.runPromise(driver.start({ queue: q, instance: "p1", env: {} }))
    await waitFor("the worker to exit", async () => (await Effect.runPromise(driver.list(q.name)))[0]?.state === "exited")
    await Effect.runPromise(driver.remove(worker))
    expect(await Effect.runPromise(driver.list(q.name))).toEqual([])
    await sink.flush()
    const stored = await waitFor("all 1001 lines", async () => {
      const lines = await read({ queue: q.name, instance: "p1" })
      return lines.length === 1001 && lines
    }, 10_000)
    expect(texts(stored.filter((l) => l.stream === "stdout"))).toEqual(Array.from({ length: 1000 }, (_, i) => `line ${i}`))
    expect(stored.filter((l) => l.stream === "stderr").map((l) => l.line)).toEqual(["bye"])
  })
})
