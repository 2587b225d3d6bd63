// Job mode (JETSCALE_MODE=job) against a real nats-server: a worker process takes exactly one job,
// settles it as any worker would (acked, or NAKed for a retry), reports it and exits 0; with no job
// it exits 0 after its wait; it exits 1 only when it cannot run. In-process, `stopped` resolves
// once the job (or the one batch) is done.
import { jetstream } from "@nats-io/jetstream"
import { headers } from "@nats-io/transport-node"
import { spawn } from "node:child_process"
import { resolve } from "node:path"
import { describe, expect, it } from "vitest"
import type { QueueConfig } from "../../src/config/model.ts"
import { readWorkerSettings, startWorker, type WorkerStateReport } from "../../src/worker/index.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { startOtlpReceiver } from "../support/otlp-receiver.ts"
import { queueOps } from "../support/queue-ops.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const { setup, publish, consumer, streamMessages } = queueOps(nats, "jm")

// A tiny worker run from the sources: prints each job it runs; `fail` makes the job fail. With
// TEST_BATCH_SIZE it takes batches of that size.
const script = `
const { runWorker } = await import(${JSON.stringify(resolve("src/worker/index.ts"))})
const run = (p, ctx) => {
  console.log("ran " + JSON.stringify(p) + " on delivery " + ctx.deliveries)
  if (p.fail) throw new Error("failing on purpose")
}
const size = Number(process.env.TEST_BATCH_SIZE ?? 0)
await runWorker(size > 0
  ? { batch: { size, timeout: "100ms" }, handler: (jobs) => jobs.map((j) => { run(j.payload, j); return { ok: true } }) }
  : { handler: run })
`

const runJobProcess = async (q: QueueConfig, env: Record<string, string> = {}) => {
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], {
    env: {
      ...process.env, NATS_URL: nats.server.url, JETSCALE_QUEUE: q.name, JETSCALE_STREAM: q.stream, JETSCALE_CONSUMER: q.consumer,
      JETSCALE_INSTANCE: `job-${q.name}`, JETSCALE_MODE: "job", JETSCALE_BACKOFF_MS: "100", ...env
    },
    stdio: ["ignore", "pipe", "pipe"]
  })
  let output = ""
  child.stdout.on("data", (d: Buffer) => (output += d))
  child.stderr.on("data", (d: Buffer) => (output += d))
  const began = performance.now()
  const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)))
  return { code, output, ms: performance.now() - began }
}

const stateReports = (q: QueueConfig) => {
  const reports: Array<WorkerStateReport> = []
  const sub = nats.nc.subscribe(`jetscale.workers.${q.name}.>`, { callback: (_e, m) => void reports.push(m.json<WorkerStateReport>()) })
  return { reports, stop: () => sub.unsubscribe() }
}

describe("job mode", () => {
  it("takes exactly one job of two, acks it, reports it done and exits 0; the other stays pending", async () => {
    const q = await setup()
    await publish(q, [{ id: "one" }, { id: "two" }])
    const state = stateReports(q)
    const { code, output } = await runJobProcess(q)
    expect(code).toBe(0)
    expect(output).toContain(`ran {"id":"one"} on delivery 1`)
    expect(output).not.toContain("two")
    expect(output).toContain("stopped: 1 acked, 0 retried")
    const info = await consumer(q)
    expect(info).toMatchObject({ num_pending: 1, num_ack_pending: 0, num_redelivered: 0 })
    expect(await streamMessages(q)).toBe(1)
    await waitFor("the last state report", () => state.reports.at(-1)?.jobsDone === 1, 2000)
    expect(state.reports.at(-1)).toMatchObject({ instance: `job-${q.name}`, state: "draining", inFlight: 0, jobsDone: 1 })
    expect(state.reports.at(-1)!.meanJobMs).toBeGreaterThanOrEqual(0)
    state.stop()
  })

  it("a failing job is NAKed for a retry and the process still exits 0; the retry is the next worker's", async () => {
    const q = await setup()
    await publish(q, [{ id: "flaky", fail: true }])
    const { code, output } = await runJobProcess(q)
    expect(code).toBe(0)
    expect(output).toContain("job 1 failed on delivery 1, retry in 100ms: Error: failing on purpose")
    expect(output).toContain("stopped: 0 acked, 1 retried")
    expect(await streamMessages(q)).toBe(1)
    // In-process this time: `stopped` resolves once its one job is done.
    const runs: Array<number> = []
    const w = await startWorker({
      handler: (_p, ctx) => void runs.push(ctx.deliveries), log: () => {},
      settings: { natsUrl: nats.server.url, queue: q.name, instance: `jm-${q.name}`, mode: "job", jobWaitMs: 5000 }
    })
    await w.stopped
    expect(runs).toEqual([2])
    expect(w.stats()).toMatchObject({ acked: 1, inFlight: 0 })
    expect(await streamMessages(q)).toBe(0)
  })

  it("with no job, exits 0 after JETSCALE_JOB_WAIT_MS and says so", async () => {
    const q = await setup()
    const { code, output, ms } = await runJobProcess(q, { JETSCALE_JOB_WAIT_MS: "1000" })
    expect(code).toBe(0)
    expect(output).toContain("draining (job mode: no job came within 1s)")
    expect(ms).toBeGreaterThanOrEqual(1000)
    expect(ms).toBeLessThan(5000)
  })

  it("exits 1 when it cannot run: a bad JETSCALE_MODE, a bad JETSCALE_JOB_WAIT_MS", async () => {
    const q = await setup()
    const bad = await runJobProcess(q, { JETSCALE_MODE: "once" })
    expect(bad.code).toBe(1)
    expect(bad.output).toContain(`JETSCALE_MODE: expected "worker" or "job", got "once"`)
    expect(() => readWorkerSettings({ JETSCALE_QUEUE: "q", JETSCALE_JOB_WAIT_MS: "10" })).toThrow("JETSCALE_JOB_WAIT_MS: expected 1000 to 3600000 ms, got 10")
    expect(readWorkerSettings({ JETSCALE_QUEUE: "q" })).toMatchObject({ mode: "worker", jobWaitMs: 30_000 })
  })

  it("with batch: takes one batch (what came within its pull), settles each job, and stops", async () => {
    const q = await setup()
    await publish(q, [1, 2, 3, 4, 5].map((i) => ({ i })))
    const batches: Array<Array<number>> = []
    const w = await startWorker<{ i: number }>({
      batch: { size: 3, timeout: "200ms" },
      handler: (jobs) => void batches.push(jobs.map((j) => j.payload.i)), log: () => {},
      settings: { natsUrl: nats.server.url, queue: q.name, instance: `jmb-${q.name}`, mode: "job", jobWaitMs: 5000 }
    })
    await w.stopped
    expect(batches).toEqual([[1, 2, 3]])
    expect(await consumer(q)).toMatchObject({ num_pending: 2, num_ack_pending: 0, num_redelivered: 0 })
  })

  it("a process with batch takes one batch; each job has its span in its own trace, and one batch span links them", async () => {
    const q = await setup()
    const receiver = await startOtlpReceiver()
    try {
      const caller = "0af7651916cd43dd8448eb211c80319c"
      const h = headers()
      h.set("traceparent", `00-${caller}-b7ad6b7169203331-01`)
      await jetstream(nats.nc).publish(q.subjects[0]!, JSON.stringify({ id: "traced" }), { headers: h })
      await publish(q, [{ id: "untraced" }])
      const { code, output } = await runJobProcess(q, { TEST_BATCH_SIZE: "10", ...receiver.env("http/json") })
      expect(code).toBe(0)
      expect(output).toContain("draining (job mode: a batch of 2 taken)")
      expect(output).toContain("stopped: 2 acked, 0 retried")
      const jobs = receiver.spans.filter((s) => s.name === `${q.subjects[0]} process` && s.attributes["jetscale.stream_seq"] !== undefined)
      expect(jobs.map((s) => [s.attributes["jetscale.stream_seq"], s.attributes["jetscale.outcome"]]).sort()).toEqual([[1, "acked"], [2, "acked"]])
      expect(jobs.find((s) => s.attributes["jetscale.stream_seq"] === 1)).toMatchObject({ traceId: caller, parentSpanId: "b7ad6b7169203331", kind: 5 })
      const batch = receiver.spans.find((s) => s.attributes["messaging.batch.message_count"] === 2)
      expect(batch).toMatchObject({ service: `jetscale-worker-${q.name}`, kind: 5 })
      expect(batch!.links.map((l) => l.spanId).sort()).toEqual(jobs.map((s) => s.spanId).sort())
    } finally {
      await receiver.close()
    }
  })
})
