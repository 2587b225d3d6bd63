// Priority levels in the worker SDK (JETSCALE_CONSUMERS, one consumer per level, highest first)
// against a real nats-server: a free slot takes the highest level that has work, and a held job of
// a lower level starts after at most JETSCALE_PRIORITY_BURST jobs of higher levels; a drain runs the
// jobs buffered from every level and a shutdown hands them back; job mode takes the highest level's
// job; batches fill from the highest levels first. Also the settings and the pure picks.
import { jetstream } from "@nats-io/jetstream"
import { Duration, Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import type { QueueConfig } from "../../src/config/model.ts"
import { provisionQueue } from "../../src/jetstream/provision.ts"
import { levelConsumerName, levelSubject } from "../../src/jetstream/names.ts"
import { readWorkerSettings, startWorker, type RunningWorker } from "../../src/worker/index.ts"
import { levelLimit, pickLevel } from "../../src/worker/priority.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { testQueue, uniqueName } from "../support/queue.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const cleanup: Array<() => Promise<unknown>> = []
afterAll(() => Promise.all(cleanup.map((f) => f())))

const levelNames = ["high", "normal", "low"] as const
type Level = (typeof levelNames)[number]

/** A provisioned queue with three levels: stream subjects jobs.<q>.<level>, consumers workers-<level>. */
const setupLevels = async (over: Partial<QueueConfig> = {}) => {
  const name = uniqueName("prio")
  const levels = levelNames.map((l) => ({ name: l, subject: levelSubject(name, l), consumer: levelConsumerName(l) }))
  const q = testQueue("prio", { name, levels, subjects: levels.map((l) => l.subject), ...over })
  await Effect.runPromise(provisionQueue(nats.jsm, q))
  return q
}

interface Item { readonly level: Level; readonly id: string; readonly sleepMs?: number }

const publish = async (q: QueueConfig, level: Level, count: number, extra: Partial<Item> = {}) => {
  const js = jetstream(nats.nc)
  for (let i = 0; i < count; i++) await js.publish(levelSubject(q.name, level), JSON.stringify({ level, id: `${level}-${i}`, ...extra }))
}

const pendingOf = async (q: QueueConfig, level: Level) => (await nats.jsm.consumers.info(q.stream, levelConsumerName(level))).num_pending
const streamMessages = async (q: QueueConfig) => (await nats.jsm.streams.info(q.stream)).state.messages
const consumersOf = (q: QueueConfig) => q.levels.map((l) => l.consumer)

interface Start { readonly level: Level; readonly id: string; readonly deliveries: number; readonly at: number }

const worker = async (q: QueueConfig, starts: Array<Start>, over: { concurrency?: number; burst?: number; stopTimeoutMs?: number; sleepMs?: number } = {}) => {
  const w: RunningWorker = await startWorker<Item>({
    concurrency: over.concurrency ?? 1,
    settings: {
      natsUrl: nats.server.url, queue: q.name, instance: uniqueName("w"), consumers: consumersOf(q),
      priorityBurst: over.burst ?? 3, stopTimeoutMs: over.stopTimeoutMs ?? 5000
    },
    log: () => {},
    handler: async (p, ctx) => {
      starts.push({ level: p.level, id: p.id, deliveries: ctx.deliveries, at: performance.now() })
      // A job's own sleepMs holds on its first delivery only: handed back, it runs quickly.
      await new Promise((r) => setTimeout(r, (ctx.deliveries === 1 ? p.sleepMs : undefined) ?? over.sleepMs ?? 10))
    }
  })
  cleanup.push(() => w.stop())
  return w
}

/** The runs of higher-level starts before each start of `level` (from the first start, or its previous one). */
const highRunsBefore = (starts: ReadonlyArray<Start>, level: Level): ReadonlyArray<number> => {
  const runs: Array<number> = []
  let run = 0
  for (const s of starts) {
    if (s.level === level) {
      runs.push(run)
      run = 0
    } else if (levelNames.indexOf(s.level) < levelNames.indexOf(level)) run++
  }
  return runs
}

describe("priority levels: settings and picks", () => {
  const env = { JETSCALE_QUEUE: "q" }

  it("reads JETSCALE_CONSUMERS (1 to 5 distinct names) and JETSCALE_PRIORITY_BURST; without them, one consumer as before", () => {
    expect(readWorkerSettings(env)).toMatchObject({ consumer: "workers", consumers: ["workers"], priorityBurst: 10 })
    expect(readWorkerSettings({ ...env, JETSCALE_CONSUMER: "w" })).toMatchObject({ consumer: "w", consumers: ["w"] })
    expect(readWorkerSettings({ ...env, JETSCALE_CONSUMER: "workers-high", JETSCALE_CONSUMERS: " workers-high, workers-low ", JETSCALE_PRIORITY_BURST: "3" }))
      .toMatchObject({ consumer: "workers-high", consumers: ["workers-high", "workers-low"], priorityBurst: 3 })
    const bad = (e: Record<string, string>) => () => readWorkerSettings({ ...env, ...e })
    expect(bad({ JETSCALE_CONSUMERS: "a,b,c,d,e,f" })).toThrow(/^JETSCALE_CONSUMERS: expected 1 to 5 consumer names/)
    expect(bad({ JETSCALE_CONSUMERS: "a,,b" })).toThrow(/^JETSCALE_CONSUMERS\[1\]: expected a consumer name/)
    expect(bad({ JETSCALE_CONSUMERS: "a,b.c" })).toThrow(/^JETSCALE_CONSUMERS\[1\]: .*"b\.c"/)
    expect(bad({ JETSCALE_CONSUMERS: "a,b,a" })).toThrow(/^JETSCALE_CONSUMERS\[2\]: "a" is named twice/)
    expect(bad({ JETSCALE_PRIORITY_BURST: "0" })).toThrow(/^JETSCALE_PRIORITY_BURST: expected 1 to 1000, got 0/)
    expect(bad({ JETSCALE_PRIORITY_BURST: "1001" })).toThrow(/^JETSCALE_PRIORITY_BURST/)
    expect(bad({ JETSCALE_PRIORITY_BURST: "x" })).toThrow(/^JETSCALE_PRIORITY_BURST/)
    expect(() => readWorkerSettings(env, { consumers: [] })).toThrow(/^JETSCALE_CONSUMERS/)
  })

  it("picks the highest level holding a job, an overdue lower level first, and waits for a higher level's job on its way", () => {
    const v = (held: number, waited = 0, expected = false) => ({ held, waited, expected })
    expect(pickLevel([v(2), v(1)], 3)).toEqual({ _tag: "take", level: 0 })
    expect(pickLevel([v(0), v(1)], 3)).toEqual({ _tag: "take", level: 1 })
    expect(pickLevel([v(2), v(1, 2)], 3)).toEqual({ _tag: "take", level: 0 })
    expect(pickLevel([v(2), v(1, 3)], 3)).toEqual({ _tag: "take", level: 1 })
    // Two overdue levels: the higher first.
    expect(pickLevel([v(2), v(1, 3), v(1, 4)], 3)).toEqual({ _tag: "take", level: 1 })
    expect(pickLevel([v(0, 0, true), v(1)], 3)).toEqual({ _tag: "wait" })
    expect(pickLevel([v(0, 0, true), v(1, 3)], 3)).toEqual({ _tag: "take", level: 1 })
    expect(pickLevel([v(0), v(0)], 3)).toEqual({ _tag: "none" })
    // The highest level gets the whole room; a lower one what higher levels' held jobs leave, at least 1.
    expect([levelLimit(0, 5, 0), levelLimit(1, 5, 2), levelLimit(2, 5, 9), levelLimit(0, 0, 0)]).toEqual([5, 3, 1, 0])
  })
})

describe("priority levels on a real nats-server", () => {
  it("a backlog of both: high jobs start first, and each low job after at most N high starts; all 40 acked", async () => {
    const q = await setupLevels()
    await publish(q, "low", 20)
    await publish(q, "high", 20)
    const starts: Array<Start> = []
    const w = await worker(q, starts, { burst: 3, sleepMs: 25 })
    await waitFor("all 40 jobs acked", async () => w.stats().acked === 40 && (await streamMessages(q)) === 0, 15_000)
    expect(starts[0]!.level).toBe("high")
    // A low job starts after at most 3 high starts from its receipt. The worker holds the next low job
    // from the moment the previous one started (one slot: before the next start), so at most 3 high
    // starts come between two low starts; the first low job may come just after the first high job.
    const [first, ...then] = highRunsBefore(starts, "low")
    expect(first).toBeLessThanOrEqual(4)
    expect(Math.max(...then)).toBeLessThanOrEqual(3)
    // ... and not much more than that many lows while highs remain: 20 highs give way 6 times.
    const lastHigh = starts.findLastIndex((s) => s.level === "high")
    expect(starts.slice(0, lastHigh).filter((s) => s.level === "low").length).toBeLessThanOrEqual(7)
    expect(starts.every((s) => s.deliveries === 1)).toBe(true)
    for (const c of consumersOf(q)) expect((await nats.jsm.consumers.info(q.stream, c)).num_redelivered).toBe(0)
  })

  it("a steady flood of high jobs does not starve a low job beyond the bound", async () => {
    const q = await setupLevels()
    await publish(q, "high", 20)
    const starts: Array<Start> = []
    await worker(q, starts, { burst: 3, sleepMs: 10 })
    let flooding = true
    const js = jetstream(nats.nc)
    // More high jobs than the worker runs (one at a time, 10 ms each): the high level never runs dry.
    const flood = (async () => {
      for (let i = 0; flooding && i < 2000; i++) {
        await js.publish(levelSubject(q.name, "high"), JSON.stringify({ level: "high", id: `flood-${i}` }))
        await new Promise((r) => setTimeout(r, 4))
      }
    })()
    await waitFor("10 high jobs started", () => starts.length >= 10, 5000)
    await js.publish(levelSubject(q.name, "low"), JSON.stringify({ level: "low", id: "lonely" }))
    const publishedAt = performance.now()
    await waitFor("the low job to start", () => starts.some((s) => s.id === "lonely"), 5000, 10)
    const highPending = await pendingOf(q, "high")
    flooding = false
    await flood
    const lowAt = starts.findIndex((s) => s.id === "lonely")
    const highsMeanwhile = starts.slice(0, lowAt).filter((s) => s.at >= publishedAt).length
    // N = 3, plus one that may start while the low job is on its way to the worker.
    expect(highsMeanwhile).toBeLessThanOrEqual(4)
    expect(highPending).toBeGreaterThan(0)
  })

  it("a drain runs the jobs buffered from every level; a shutdown past stopTimeout hands them all back", async () => {
    // Both at once, on queues of their own: each waits up to 2 s for its open pulls to end.
    await Promise.all((["drain", "stop"] as const).map(async (ending) => {
      const q = await setupLevels()
      const starts: Array<Start> = []
      const w = await worker(q, starts, { burst: 3, sleepMs: 1, stopTimeoutMs: 300 })
      // Quick jobs first, so that the worker prefetches: then a slow one and a few of every level behind
      // it (slower than the stop's timeout and the wait for its open pulls, up to 2 s).
      await publish(q, "high", 30)
      await waitFor("the warm-up jobs done", () => w.stats().acked === 30, 10_000)
      await publish(q, "high", 1, { id: "slow", sleepMs: ending === "drain" ? 2500 : 10_000 })
      await waitFor("the slow job to start", () => starts.some((s) => s.id === "slow"), 5000, 10)
      for (const level of levelNames) await publish(q, level, 3)
      await waitFor("9 jobs of 3 levels buffered", () => w.stats().prefetched === 9, 5000, 10)
      if (ending === "drain") {
        await w.drain()
        const late = starts.slice(31)
        expect(late.map((s) => s.level).sort()).toEqual([...Array(3).fill("high"), ...Array(3).fill("low"), ...Array(3).fill("normal")])
        expect(late[0]!.level).toBe("high")
        expect(w.stats()).toMatchObject({ acked: 40, naked: 0, prefetched: 0 })
        expect(await streamMessages(q)).toBe(0)
      } else {
        await w.stop()
        // The slow one interrupted and all 9 buffered handed back: nothing ran to its end, nothing is lost.
        expect(starts.length).toBe(31)
        expect(await streamMessages(q)).toBe(10)
        const second: Array<Start> = []
        await worker(q, second, { concurrency: 4, sleepMs: 1 })
        // Handed back, not left to ackWait (30 s): another worker has them all at once, on their second delivery.
        await waitFor("the stream to be empty", async () => (await streamMessages(q)) === 0, 5000)
        expect(second.map((s) => s.id).sort()).toEqual(["high-0", "high-1", "high-2", "low-0", "low-1", "low-2", "normal-0", "normal-1", "normal-2", "slow"])
        expect(second.every((s) => s.deliveries === 2)).toBe(true)
      }
    }))
  })

  it("job mode takes the high job when several levels have work, and a batch fills from the highest levels first", async () => {
    const q = await setupLevels()
    await publish(q, "low", 3)
    await publish(q, "normal", 2)
    await publish(q, "high", 1)
    const ran: Array<string> = []
    const one = await startWorker<Item>({
      settings: { natsUrl: nats.server.url, queue: q.name, instance: uniqueName("job"), consumers: consumersOf(q), mode: "job", jobWaitMs: 2000 },
      log: () => {},
      handler: (p) => void ran.push(p.id)
    })
    await one.stopped
    expect(ran).toEqual(["high-0"])
    const batches: Array<Array<string>> = []
    const batch = await startWorker<Item>({
      batch: { size: 4, timeout: "100ms" },
      settings: { natsUrl: nats.server.url, queue: q.name, instance: uniqueName("job"), consumers: consumersOf(q), mode: "job", jobWaitMs: 2000 },
      log: () => {},
      handler: (jobs) => void batches.push(jobs.map((j) => j.payload.id))
    })
    await batch.stopped
    expect(batches).toEqual([["normal-0", "normal-1", "low-0", "low-1"]])
    expect([await pendingOf(q, "high"), await pendingOf(q, "normal"), await pendingOf(q, "low")]).toEqual([0, 0, 1])
    expect(await streamMessages(q)).toBe(1)
  })

  it("a job-mode worker with no job pending still finds a crashed worker's job, redelivered after its ack wait", async () => {
    const q = await setupLevels({ ackWait: Duration.seconds(1) })
    await publish(q, "low", 1)
    // Delivered and never acked: once its ack wait is over it is redelivered, but not counted as pending.
    const lost = await (await jetstream(nats.nc).consumers.get(q.stream, levelConsumerName("low"))).next({ expires: 1000 })
    expect(lost?.seq).toBe(1)
    expect(await pendingOf(q, "low")).toBe(0)
    const ran: Array<{ id: string; deliveries: number }> = []
    const w = await startWorker<Item>({
      settings: { natsUrl: nats.server.url, queue: q.name, instance: uniqueName("job"), consumers: consumersOf(q), mode: "job", jobWaitMs: 6000 },
      log: () => {},
      handler: (p, ctx) => void ran.push({ id: p.id, deliveries: ctx.deliveries })
    })
    await w.stopped
    expect(ran).toEqual([{ id: "low-0", deliveries: 2 }])
    expect(await streamMessages(q)).toBe(0)
  })

  it("a running worker's batches fill from the highest levels first", async () => {
    const q = await setupLevels()
    await publish(q, "low", 3)
    await publish(q, "high", 4)
    const batches: Array<Array<string>> = []
    const w = await startWorker<Item>({
      batch: { size: 5, timeout: "200ms" },
      settings: { natsUrl: nats.server.url, queue: q.name, instance: uniqueName("b"), consumers: consumersOf(q), stopTimeoutMs: 2000 },
      log: () => {},
      handler: (jobs) => void batches.push(jobs.map((j) => j.payload.id))
    })
    cleanup.push(() => w.stop())
    await waitFor("all 7 acked", () => w.stats().acked === 7, 5000)
    expect(batches[0]).toEqual(["high-0", "high-1", "high-2", "high-3", "low-0"])
    expect(batches.flat().sort()).toEqual(["high-0", "high-1", "high-2", "high-3", "low-0", "low-1", "low-2"])
  })
})
