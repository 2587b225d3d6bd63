// `mode: job` end to end (`jetscale up` as a process, a real nats-server; a real dockerd for the
// docker driver): one worker per job, never more than maxReplicas at once (sampled in the runtime),
// every job acked once, each worker runs exactly one job (their state reports), nothing left at the
// end; a failing job runs once per attempt, each on its own worker, and is dead-lettered with its error.
import type { Subscription } from "@nats-io/transport-node"
import { jetstream } from "@nats-io/jetstream"
import { afterEach, describe, expect, it } from "vitest"
import { listDeadLetters } from "../../src/dlq/read.ts"
import { streamName } from "../../src/jetstream/names.ts"
import { managedContainers } from "../support/docker.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { workerPids } from "../support/processes.ts"
import { uniqueName } from "../support/queue.ts"
import { useScalers } from "../support/scaler-fixture.ts"
import { writeDemoQueueConfig } from "../support/scaler-process.ts"
import { scalerStatus } from "../support/scaler-status.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const scalers = useScalers()
const subs: Array<Subscription> = []
afterEach(() => {
  for (const s of subs.splice(0)) s.unsubscribe()
})

const maxReplicas = 4

describe.each(["process", "docker"] as const)("mode: job, %s driver, end to end", (driver) => {
  const setup = async (settings: Readonly<Record<string, string | number>>) => {
    const queue = uniqueName("job")
    if (driver === "docker") scalers.cleanUpQueue(queue)
    const path = await writeDemoQueueConfig({
      natsUrl: nats.server.url, driver, queue, ...(driver === "docker" ? { command: "image" as const } : {}),
      settings: { mode: "job", maxReplicas, stopTimeout: "5s", ...settings }
    })
    // Per worker instance: the most jobs it said it finished, and the most it held at once.
    const workers = new Map<string, { jobsDone: number; maxInFlight: number }>()
    subs.push(nats.nc.subscribe(`jetscale.workers.${queue}.*`, {
      callback: (_e, m) => {
        const r = m.json<{ instance: string; inFlight: number; jobsDone?: number }>()
        const w = workers.get(r.instance) ?? { jobsDone: 0, maxInFlight: 0 }
        workers.set(r.instance, { jobsDone: Math.max(w.jobsDone, r.jobsDone ?? 0), maxInFlight: Math.max(w.maxInFlight, r.inFlight) })
      }
    }))
    // +ACKs by stream sequence ($JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>...).
    const acks = new Map<number, number>()
    subs.push(nats.nc.subscribe(`$JS.ACK.${streamName(queue)}.>`, {
      callback: (_e, m) => {
        if (m.string() !== "+ACK") return
        const seq = Number(m.subject.split(".")[5])
        acks.set(seq, (acks.get(seq) ?? 0) + 1)
      }
    }))
    const scaler = scalers.up(path)
    await scaler.waitForOutput("scaler up")
    /** Live workers as the runtime has them. */
    const live = async () => driver === "docker"
      ? (await managedContainers(queue)).filter((c) => c.State === "running" || c.State === "created").length
      : (await workerPids(queue)).length
    const leftovers = async () => driver === "docker" ? (await managedContainers(queue)).length : (await workerPids(queue)).length
    const workQueueEmpty = async () => (await nats.jsm.streams.info(streamName(queue))).state.messages === 0
    const atZero = async () => (await leftovers()) === 0 && (await scalerStatus(nats.nc, queue))?.desired === 0 && (await workQueueEmpty())
    const js = jetstream(nats.nc)
    const publish = async (payloads: ReadonlyArray<object>) => {
      const seqs: Array<number> = []
      for (const p of payloads) seqs.push((await js.publish(`jobs.${queue}`, JSON.stringify(p))).seq)
      return seqs
    }
    return { queue, scaler, workers, acks, live, atZero, publish }
  }

  it(`20 jobs, maxReplicas ${maxReplicas}: at most ${maxReplicas} workers at once, one job each, every job acked once, nothing left`, async () => {
    const t = await setup({})
    let peak = 0
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        peak = Math.max(peak, await t.live())
        await new Promise((r) => setTimeout(r, 50))
      }
    })()
    const seqs = await t.publish(Array.from({ length: 20 }, (_, i) => ({ id: `job-${i}`, sleepMs: 300 })))
    await waitFor("20 acks", () => seqs.every((s) => t.acks.has(s)), 25_000)
    await waitFor("zero workers and an empty work queue", t.atZero, 10_000, 100)
    sampling = false
    await sampler
    expect(peak).toBeLessThanOrEqual(maxReplicas)
    expect(peak).toBeGreaterThan(1)
    expect(seqs.map((s) => t.acks.get(s))).toEqual(Array(20).fill(1))
    // Each worker held at most one job and finished exactly one: 20 workers for 20 jobs.
    const workers = [...t.workers.values()]
    expect(workers.every((w) => w.maxInFlight <= 1 && w.jobsDone === 1)).toBe(true)
    expect(workers).toHaveLength(20)
    expect(t.scaler.output()).not.toMatch(/died \(exit/)
  })

  it("a failing job runs once per attempt, each on a worker of its own, and is dead-lettered with its error; a fail-once job succeeds on its retry", async () => {
    const t = await setup({ maxDeliver: 3, backoff: "[300ms]" })
    const [doomed, once] = await t.publish([{ id: "doomed", fail: "always" }, { id: "second-time", fail: "once" }])
    const [entry] = await waitFor("the DLQ entry", async () => {
      const dead = await listDeadLetters(nats.jsm, t.queue)
      return dead.length === 1 && dead
    }, 25_000)
    expect(entry).toMatchObject({ streamSeq: doomed, reason: "max_deliveries", deliveries: 3, error: "Error: demo job doomed failed (fail: always)" })
    await waitFor("the fail-once job acked", () => t.acks.get(once!) === 1, 10_000)
    await waitFor("zero workers and an empty work queue", t.atZero, 10_000, 100)
    // 3 attempts of one job and 2 of the other: 5 workers, one job each. After the last attempt the
    // job stays in ackPending until a pull: the worker started for it gets nothing and is drained.
    const workers = [...t.workers.values()]
    expect(workers.every((w) => w.maxInFlight <= 1 && w.jobsDone <= 1)).toBe(true)
    expect(workers.filter((w) => w.jobsDone === 1)).toHaveLength(5)
    expect(workers.filter((w) => w.jobsDone === 0).length).toBeLessThanOrEqual(1)
    expect(t.scaler.output()).not.toMatch(/died \(exit/)
  })
})
