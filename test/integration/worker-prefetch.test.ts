// The worker SDK's prefetch against a real nats-server: jobs received ahead of a free slot are
// heartbeated while they wait (no redelivery past ackWait), and a drain or a shutdown never loses
// them: a scale-in drain runs them (no delivery burnt), a shutdown past stopTimeout hands them back.
import { Duration, Effect } from "effect"
import { describe, expect, it } from "vitest"
import type { QueueConfig } from "../../src/config/model.ts"
import { readBacklog } from "../../src/jetstream/backlog.ts"
import { startWorker, type RunningWorker } from "../../src/worker/index.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { queueOps } from "../support/queue-ops.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const { setup, publish, streamMessages } = queueOps(nats, "pf")

interface Run {
  readonly id: string
  readonly deliveries: number
}

/** A concurrency-1 worker whose prefetch is warmed up by quick jobs, then one slow job and ten quick ones behind it. */
const warmWorker = async (q: QueueConfig, runs: Array<Run>, stopTimeoutMs = 10_000) => {
  const w = await startWorker<{ id: string; sleepMs?: number }>({
    concurrency: 1,
    settings: { natsUrl: nats.server.url, queue: q.name, instance: `pf-${q.name}`, stopTimeoutMs },
    log: () => {},
    handler: async (p, ctx) => {
      runs.push({ id: p.id, deliveries: ctx.deliveries })
      if (p.sleepMs) await new Promise((r) => setTimeout(r, p.sleepMs))
    }
  })
  await publish(q, Array.from({ length: 30 }, (_, i) => ({ id: `warm-${i}` })))
  await waitFor("the warm-up jobs to be done", async () => (await streamMessages(q)) === 0, 10_000)
  return w
}

const waitForPrefetch = async (q: QueueConfig, w: RunningWorker, expected: number) => {
  await waitFor(`${expected} jobs prefetched behind the slow one`, async () => w.stats().prefetched === expected, 5_000, 20)
  // The server sees them delivered to this worker: in flight, not pending.
  const backlog = await Effect.runPromise(readBacklog(nats.jsm, q))
  expect(backlog).toMatchObject({ pending: 0, ackPending: expected + 1 })
}

describe("worker SDK prefetch", () => {
  it("prefetched jobs waiting past ackWait are heartbeated: none is redelivered", async () => {
    const q = await setup({ ackWait: Duration.seconds(1) })
    const runs: Array<Run> = []
    const w = await warmWorker(q, runs)
    await publish(q, [{ id: "slow", sleepMs: 2500 }, ...Array.from({ length: 10 }, (_, i) => ({ id: `quick-${i}` }))])
    await waitForPrefetch(q, w, 10)
    await waitFor("the stream to be empty", async () => (await streamMessages(q)) === 0, 10_000)
    const late = runs.filter((r) => !r.id.startsWith("warm-"))
    expect(late.map((r) => r.id)).toEqual(["slow", ...Array.from({ length: 10 }, (_, i) => `quick-${i}`)])
    expect(late.every((r) => r.deliveries === 1)).toBe(true)
    const info = await nats.jsm.consumers.info(q.stream, q.consumer)
    expect(info.num_redelivered).toBe(0)
    await w.stop()
  })

  it("a scale-in drain runs the prefetched jobs itself: none is lost, none burns a delivery", async () => {
    const q = await setup()
    const runs: Array<Run> = []
    const w = await warmWorker(q, runs)
    await publish(q, [{ id: "slow", sleepMs: 1500 }, ...Array.from({ length: 10 }, (_, i) => ({ id: `quick-${i}` }))])
    await waitForPrefetch(q, w, 10)
    await w.drain()
    const late = runs.filter((r) => !r.id.startsWith("warm-"))
    expect(late).toHaveLength(11)
    expect(late.every((r) => r.deliveries === 1)).toBe(true)
    expect(w.stats()).toMatchObject({ acked: 41, naked: 0, prefetched: 0 })
    expect(await streamMessages(q)).toBe(0)
    expect((await nats.jsm.consumers.info(q.stream, q.consumer)).num_redelivered).toBe(0)
  })

  it("a shutdown past stopTimeout hands the prefetched jobs back at once: another worker runs them", async () => {
    const q = await setup()
    const runs: Array<Run> = []
    const w = await warmWorker(q, runs, 300)
    await publish(q, [{ id: "slow", sleepMs: 5000 }, ...Array.from({ length: 10 }, (_, i) => ({ id: `quick-${i}` }))])
    await waitForPrefetch(q, w, 10)
    await w.stop()
    // Nothing ran to its end, nothing was lost: all 11 are still in the stream.
    expect(await streamMessages(q)).toBe(11)
    const second: Array<Run> = []
    const w2 = await startWorker<{ id: string }>({
      concurrency: 4,
      settings: { natsUrl: nats.server.url, queue: q.name, instance: `pf2-${q.name}` },
      log: () => {},
      handler: (p, ctx) => void second.push({ id: p.id, deliveries: ctx.deliveries })
    })
    // Handed back, not left to ackWait (30s): another worker has them within seconds.
    await waitFor("the stream to be empty", async () => (await streamMessages(q)) === 0, 5_000)
    expect(second.map((r) => r.id).sort()).toEqual(["slow", ...Array.from({ length: 10 }, (_, i) => `quick-${i}`)].sort())
    // Each was delivered to the first worker once, then once to this one: no hand-back loop.
    expect(second.every((r) => r.deliveries === 2)).toBe(true)
    await w2.stop()
  })
})
