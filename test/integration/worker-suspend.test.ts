// The worker SDK's suspend (`idle: suspend`) against a real nats-server: a cordoned worker finishes
// its jobs, holds no pull request once it reports `suspended`, takes no job while suspended, and
// pulls again on resume. A worker frozen (SIGSTOP) past the server's ping limits, and one frozen
// across a nats-server restart, reconnect on SIGCONT and run the next job: nothing is lost.
import { jetstream } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { spawn } from "node:child_process"
import { setTimeout as sleep } from "node:timers/promises"
import { Effect } from "effect"
import { afterAll, describe, expect, it } from "vitest"
import { provisionQueue } from "../../src/jetstream/provision.ts"
import { readBacklog } from "../../src/jetstream/backlog.ts"
import { startWorker } from "../../src/worker/index.ts"
import type { WorkerStateReport } from "../../src/worker/state-report.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { startRestartableNatsServer } from "../support/nats-server.ts"
import { testQueue } from "../support/queue.ts"
import { queueOps } from "../support/queue-ops.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const { setup, publish, streamMessages } = queueOps(nats, "sus")

describe("worker SDK suspend", () => {
  it("cordoned: finishes its job, then reports suspended with no pull open; takes nothing until resumed", async () => {
    const q = await setup()
    const seen: Array<string> = []
    const reports: Array<WorkerStateReport> = []
    const sub = nats.nc.subscribe(`jetscale.workers.${q.name}.>`, { callback: (_e, m) => void reports.push(m.json<WorkerStateReport>()) })
    const w = await startWorker<{ id: string; sleepMs?: number }>({
      concurrency: 2,
      settings: { natsUrl: nats.server.url, queue: q.name, instance: `s-${q.name}` },
      log: () => {},
      handler: async (p) => {
        if (p.sleepMs) await sleep(p.sleepMs)
        seen.push(p.id)
      }
    })
    await publish(q, [{ id: "long", sleepMs: 800 }])
    await waitFor("the job in flight", () => w.stats().inFlight === 1, 5000, 10)
    w.suspend()
    expect(w.phase()).toBe("suspending")
    await waitFor("a suspended report", () => reports.some((r) => r.state === "suspended"), 6000, 20)
    expect(reports.some((r) => r.state === "suspending" && r.inFlight === 1)).toBe(true)
    expect(seen).toEqual(["long"])
    expect((await nats.jsm.consumers.info(q.stream, q.consumer)).num_waiting).toBe(0)
    await publish(q, [{ id: "later" }])
    await sleep(2500)
    expect(seen).toEqual(["long"])
    expect(await Effect.runPromise(readBacklog(nats.jsm, q))).toMatchObject({ pending: 1, ackPending: 0 })
    w.resume()
    await waitFor("the stream to be empty", async () => (await streamMessages(q)) === 0, 5000)
    expect(seen).toEqual(["long", "later"])
    expect(reports.at(-1)?.state).toBe("running")
    sub.unsubscribe()
    await w.stop()
  })
})

describe("a frozen worker (SIGTSTP, then SIGSTOP) and the NATS server", () => {
  const pingLimits = "ping_interval: \"1s\"\nping_max: 2"
  let server: Awaited<ReturnType<typeof startRestartableNatsServer>> | undefined
  afterAll(async () => { await server?.stop() })

  it("past the ping limits, and across a nats-server restart, it reconnects on SIGCONT and runs the next job once", async () => {
    server = await startRestartableNatsServer({ extra: pingLimits })
    const nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 })
    const jsm = await (await import("@nats-io/jetstream")).jetstreamManager(nc)
    const q = testQueue("frz")
    await Effect.runPromise(provisionQueue(jsm, q))
    const env = { ...process.env, NATS_URL: server.url, JETSCALE_QUEUE: q.name, JETSCALE_INSTANCE: "frozen-1", JETSCALE_CONCURRENCY: "1" }
    const child = spawn(process.execPath, ["services/workers/demo/dist/main.js"], { env, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (d: Buffer) => (output += d))
    child.stderr.on("data", (d: Buffer) => (output += d))
    try {
      let state = ""
      nc.subscribe(`jetscale.workers.${q.name}.>`, { callback: (_e, m) => void (state = m.json<WorkerStateReport>().state) })
      const js = jetstream(nc)
      const runOne = async (id: string) => {
        await js.publish(q.subjects[0]!, JSON.stringify({ id }))
        await waitFor(`job ${id} acked`, async () => (await jsm.streams.info(q.stream)).state.messages === 0, 15_000)
      }
      await waitFor("the worker running", () => state === "running", 10_000)
      await runOne("warm")
      const freeze = async () => {
        child.kill("SIGTSTP")
        await waitFor("a suspended report", () => state === "suspended", 6000, 20)
        child.kill("SIGSTOP")
      }

      // 1. Frozen for 4 s: the server (ping every 1 s, 2 unanswered at most) drops the connection.
      await freeze()
      await sleep(4000)
      await js.publish(q.subjects[0]!, JSON.stringify({ id: "while-frozen" }))
      expect((await jsm.consumers.info(q.stream, q.consumer)).num_pending).toBe(1)
      child.kill("SIGCONT")
      await waitFor("job while-frozen acked", async () => (await jsm.streams.info(q.stream)).state.messages === 0, 15_000)

      // 2. Frozen while nats-server restarts.
      await freeze()
      await server.kill()
      await server.restart()
      await sleep(1500)
      child.kill("SIGCONT")
      await runOne("after-restart")

      const info = await jsm.consumers.info(q.stream, q.consumer)
      expect(info.num_redelivered).toBe(0)
      expect(info.delivered.stream_seq).toBe(3)
      expect(output).toMatch(/suspended: no job, no pull open/)
      expect(output).toMatch(/resumed/)
    } finally {
      child.kill("SIGCONT")
      child.kill("SIGTERM")
      await nc.close()
    }
  })
})
