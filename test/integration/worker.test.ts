// Worker SDK against a real nats-server: ack, NAK with delay, heartbeats, and a SIGTERM drain.
import { Duration, Effect } from "effect"
import { spawn } from "node:child_process"
import { describe, expect, it } from "vitest"
import type { QueueConfig } from "../../src/config/model.ts"
import { readBacklog } from "../../src/jetstream/backlog.ts"
import { startWorker } from "../../src/worker/index.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { queueOps } from "../support/queue-ops.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const { setup, publish, streamMessages } = queueOps(nats, "w")
const settingsOf = (q: QueueConfig) => ({ natsUrl: nats.server.url, queue: q.name, instance: `t-${q.name}`, stopTimeoutMs: 5000 })

describe("worker SDK", () => {
  it("acks every job the handler completes; the work queue empties", async () => {
    const q = await setup()
    await publish(q, Array.from({ length: 20 }, (_, i) => ({ i })))
    const seen: Array<number> = []
    const w = await startWorker<{ i: number }>({ concurrency: 4, settings: settingsOf(q), log: () => {}, handler: (p) => void seen.push(p.i) })
    await waitFor("the stream to be empty", async () => (await streamMessages(q)) === 0)
    expect(w.stats().acked).toBe(20)
    expect(new Set(seen).size).toBe(20)
    expect((await Effect.runPromise(readBacklog(nats.jsm, q))).total).toBe(0)
    await w.stop()
  })

  it("NAKs a failed job with the backoff delay; the redelivery does not come before it", async () => {
    const q = await setup()
    const deliveries: Array<{ at: number; n: number }> = []
    const w = await startWorker({
      concurrency: 1,
      settings: { ...settingsOf(q), backoff: [1500] },
      log: () => {},
      handler: (_p, ctx) => {
        deliveries.push({ at: performance.now(), n: ctx.deliveries })
        if (ctx.deliveries === 1) throw new Error("first attempt fails")
      }
    })
    await publish(q, [{ id: "retry-me" }])
    await waitFor("the stream to be empty", async () => (await streamMessages(q)) === 0, 10_000)
    expect(deliveries.map((d) => d.n)).toEqual([1, 2])
    expect(deliveries[1]!.at - deliveries[0]!.at).toBeGreaterThanOrEqual(1500 - 5)
    expect(w.stats()).toMatchObject({ acked: 1, naked: 1 })
    await w.stop()
  })

  it("heartbeats keep a job that runs longer than ackWait from being redelivered", async () => {
    const q = await setup({ ackWait: Duration.seconds(1) })
    const deliveries: Array<number> = []
    const w = await startWorker({
      concurrency: 1,
      settings: settingsOf(q),
      log: () => {},
      handler: async (_p, ctx) => {
        deliveries.push(ctx.deliveries)
        await new Promise((r) => setTimeout(r, 3500))
      }
    })
    await publish(q, [{ sleep: "3.5s" }])
    await waitFor("the stream to be empty", async () => (await streamMessages(q)) === 0, 10_000)
    expect(deliveries).toEqual([1])
    await w.stop()
  })

  it("SIGTERM drain: in-flight jobs finish and are acked, the rest go back, nothing is lost", async () => {
    const q = await setup({ concurrency: 4 })
    await publish(q, Array.from({ length: 10 }, (_, i) => ({ id: `d${i}`, sleepMs: 1500 })))
    const env = { ...process.env, NATS_URL: nats.server.url, JETSCALE_QUEUE: q.name, JETSCALE_STREAM: q.stream, JETSCALE_CONSUMER: q.consumer, JETSCALE_CONCURRENCY: "4", JETSCALE_INSTANCE: "drain-1", JETSCALE_STOP_TIMEOUT_MS: "10000" }
    const child = spawn(process.execPath, ["services/workers/demo/dist/main.js"], { env, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (d: Buffer) => (output += d))
    child.stderr.on("data", (d: Buffer) => (output += d))
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)))
    await waitFor("4 jobs in flight", async () => (await Effect.runPromise(readBacklog(nats.jsm, q))).ackPending === 4, 10_000)
    child.kill("SIGTERM")
    expect(await exited).toBe(0)
    expect(output).toContain("stopped: 4 acked")
    const after = await Effect.runPromise(readBacklog(nats.jsm, q))
    expect(after).toMatchObject({ pending: 6, ackPending: 0, total: 6 })
    expect(await streamMessages(q)).toBe(6)
    const w = await startWorker({ concurrency: 6, settings: settingsOf(q), log: () => {}, handler: () => {} })
    await waitFor("the rest to be processed", async () => (await streamMessages(q)) === 0, 10_000)
    expect(w.stats().acked).toBe(6)
    await w.stop()
  })
})
