// Worker SDK lifecycle against a real nats-server: the scale-in drain (no time limit), jobTimeout,
// a handler that finishes just as it is interrupted, and the state reports the scaler reads.
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Kvm } from "@nats-io/kv"
import { Duration, Effect } from "effect"
import { spawn } from "node:child_process"
import { describe, expect, it } from "vitest"
import type { QueueConfig } from "../../src/config/model.ts"
import { readErrorRecord } from "../../src/dlq/error-record.ts"
import { provisionDeadLettering } from "../../src/dlq/provision.ts"
import { errorsBucket } from "../../src/jetstream/names.ts"
import { provisionQueue } from "../../src/jetstream/provision.ts"
import { startWorker } from "../../src/worker/index.ts"
import type { WorkerStateReport } from "../../src/worker/state-report.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { queueOps } from "../support/queue-ops.ts"
import { startRestartableNatsServer } from "../support/nats-server.ts"
import { testQueue } from "../support/queue.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const { setup, publish, consumer, streamMessages } = queueOps(nats, "wl")
const settingsOf = (q: QueueConfig) => ({ natsUrl: nats.server.url, queue: q.name, instance: `t-${q.name}` })

describe("worker lifecycle", () => {
  it("scale-in drain (SIGUSR2): a job longer than stopTimeout runs to its end and is acked; nothing new is pulled; exit 0", async () => {
    // Concurrency 1: with its one slot busy the worker has no pull request open that could still deliver.
    const q = await setup({ concurrency: 1 })
    await publish(q, [{ id: "long", sleepMs: 2500 }])
    const env = {
      ...process.env, NATS_URL: nats.server.url, JETSCALE_QUEUE: q.name, JETSCALE_STREAM: q.stream, JETSCALE_CONSUMER: q.consumer,
      JETSCALE_CONCURRENCY: "1", JETSCALE_INSTANCE: "drain-usr2", JETSCALE_STOP_TIMEOUT_MS: "200"
    }
    const child = spawn(process.execPath, ["services/workers/demo/dist/main.js"], { env, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (d: Buffer) => (output += d))
    child.stderr.on("data", (d: Buffer) => (output += d))
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)))
    await waitFor("the long job in flight", async () => (await consumer(q)).num_ack_pending === 1, 10_000)
    child.kill("SIGUSR2")
    await waitFor("the worker to say it drains", () => output.includes("draining (scale-in"), 5000)
    await publish(q, [{ id: "after-drain" }])
    expect(await exited).toBe(0)
    expect(output).toContain("stopped: 1 acked")
    expect(output).not.toContain("handing back")
    const info = await consumer(q)
    expect(info.num_redelivered).toBe(0)
    expect(info.num_ack_pending).toBe(0)
    expect(info.num_pending).toBe(1)
    expect(await streamMessages(q)).toBe(1)
  })

  it("jobTimeout: a hung handler's signal is aborted and the job fails with 'job timed out after 300ms', retried with the backoff", async () => {
    const q = await setup({ maxDeliver: 2, backoff: { _tag: "list", delays: [Duration.millis(100)] } })
    await Effect.runPromise(provisionDeadLettering(nats.jsm, [q]))
    const aborted: Array<number> = []
    const w = await startWorker({
      concurrency: 1,
      settings: { ...settingsOf(q), jobTimeoutMs: 300, backoff: [100] },
      log: () => {},
      // Never finishes: only the timeout ends it.
      handler: (_p, ctx) => new Promise(() => ctx.signal.addEventListener("abort", () => aborted.push(ctx.deliveries)))
    })
    await publish(q, [{ id: "hangs" }])
    await waitFor("two timed-out attempts", () => w.stats().naked === 2, 10_000)
    expect(aborted).toEqual([1, 2])
    expect(w.stats()).toMatchObject({ acked: 0, naked: 2, inFlight: 0 })
    const kv = await new Kvm(nats.nc).open(errorsBucket)
    const seq = (await consumer(q)).delivered.stream_seq
    expect(await readErrorRecord(kv, q.stream, seq)).toMatchObject({ name: "JobTimeoutError", message: "job timed out after 300ms", attempt: 2 })
    await w.stop()
  })

  it("a handler that finishes in the same turn as the stop timeout is acked; one still running after it is handed back", async () => {
    const q = await setup({ concurrency: 2 })
    const aborted: Array<string> = []
    const w = await startWorker({
      concurrency: 2,
      settings: { ...settingsOf(q), stopTimeoutMs: 100 },
      log: () => {},
      // "same" finishes by a timer due after the stop timeout but run in the same timers phase;
      // "late" would finish a second later, and resolves early when its signal is aborted.
      handler: (p: { id: string }, ctx) => new Promise<void>((resolve) => {
        const t = setTimeout(resolve, p.id === "same" ? 300 : 1300)
        ctx.signal.addEventListener("abort", () => { aborted.push(p.id); clearTimeout(t); resolve() })
      })
    })
    await publish(q, [{ id: "same" }, { id: "late" }])
    await waitFor("both jobs in flight", () => w.stats().inFlight === 2, 5000)
    const stopping = w.stop()
    // Block the event loop past both deadlines: the stop timeout and "same"'s timer fire in one go.
    const until = performance.now() + 450
    while (performance.now() < until) { /* busy */ }
    await stopping
    expect(aborted).toEqual(["late"])
    expect(w.stats()).toMatchObject({ acked: 1, inFlight: 0 })
    // The late job was handed back (a NAK, not a wait for ackWait): the next worker gets it at once.
    const again: Array<{ id: string; deliveries: number }> = []
    const next = await startWorker({ concurrency: 1, settings: settingsOf(q), log: () => {}, handler: (p: { id: string }, ctx) => void again.push({ id: p.id, deliveries: ctx.deliveries }) })
    await waitFor("the late job run again", async () => (await streamMessages(q)) === 0, 5000)
    expect(again).toEqual([{ id: "late", deliveries: 2 }])
    await next.stop()
  })

  it("reports running with its jobs in flight, then draining, on jetscale.workers.<queue>.<instance>", async () => {
    const q = await setup()
    const reports: Array<WorkerStateReport> = []
    const sub = nats.nc.subscribe(`jetscale.workers.${q.name}.>`, { callback: (_e, m) => void reports.push(m.json<WorkerStateReport>()) })
    let release = () => {}
    const w = await startWorker({ concurrency: 2, settings: settingsOf(q), log: () => {}, handler: () => new Promise<void>((r) => { release = r }) })
    await publish(q, [{ id: "held" }])
    await waitFor("a report with 1 job in flight", () => reports.some((r) => r.state === "running" && r.inFlight === 1), 5000)
    const draining = w.drain()
    await waitFor("a draining report", () => reports.some((r) => r.state === "draining" && r.inFlight === 1), 5000)
    release()
    await draining
    expect(reports.at(-1)).toEqual({ instance: `t-${q.name}`, state: "draining", inFlight: 0, jobsDone: 1, meanJobMs: expect.any(Number) })
    expect(w.stats().acked).toBe(1)
    sub.unsubscribe()
  })
})

describe("acks across a nats-server restart", () => {
  it("an ack sent while the server is down is sent again until confirmed: the job is not run twice", async () => {
    const server = await startRestartableNatsServer()
    const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 })
    try {
      const jsm = await jetstreamManager(nc)
      const q = testQueue("ack", { ackWait: Duration.seconds(20) })
      await Effect.runPromise(provisionQueue(jsm, q))
      await jetstream(nc).publish(q.subjects[0]!, JSON.stringify({ id: "acked-in-the-dark" }))
      let release = () => {}
      const runs: Array<number> = []
      const w = await startWorker({
        concurrency: 1,
        settings: { natsUrl: server.url, queue: q.name, instance: "ack-1", stopTimeoutMs: 2000 },
        log: () => {},
        handler: (_p, ctx) => new Promise<void>((r) => { runs.push(ctx.deliveries); release = r })
      })
      await waitFor("the job in flight", () => w.stats().inFlight === 1, 10_000)
      await new Promise((r) => setTimeout(r, 300)) // the delivery is in the consumer's store
      await server.kill()
      release() // finished while the server is down: the first ack goes nowhere
      await new Promise((r) => setTimeout(r, 1500))
      await server.restart()
      await waitFor("the ack confirmed and the job gone", async () =>
        w.stats().acksResent >= 1 && (await jsm.streams.info(q.stream)).state.messages === 0, 20_000)
      expect(runs).toEqual([1])
      expect(w.stats()).toMatchObject({ acked: 1, naked: 0 })
      await w.stop()
    } finally {
      await nc.close()
      await server.stop()
    }
  })
})
