// Priorities within a queue end to end (`jetscale up`, process driver, real nats-server): jobs
// published by level (the subject, `enqueue --priority`, `?priority=` on the job route) are run high
// first by workers started with every level's consumer, a low job is not starved past the bound,
// every level's backlog scales the queue, and status shows each level.
import { jetstream } from "@nats-io/jetstream"
import { describe, expect, it } from "vitest"
import type { StatusRow } from "../../src/cli/status.ts"
import { streamName } from "../../src/jetstream/names.ts"
import { adminUrlOf } from "../support/dashboard.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { uniqueName } from "../support/queue.ts"
import { useScalers } from "../support/scaler-fixture.ts"
import { runCli, writeConfig } from "../support/scaler-process.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const scalers = useScalers()

describe("priorities end to end", () => {
  it("high jobs run first, a low job within the starvation bound; enqueue --priority and ?priority= pick the level; status shows each level", async () => {
    const queue = uniqueName("prio")
    const stream = streamName(queue)
    const path = await writeConfig(`
nats: { url: "${nats.server.url}" }
runtime: { driver: process }
scaler: { interval: 250ms }
queues:
  ${queue}:
    command: ["node", "services/workers/demo/dist/main.js"]
    priorities: [high, normal, low]
    env: { JETSCALE_PRIORITY_BURST: "3" }
    concurrency: 1
    maxReplicas: 1
    idleTimeout: 2s
    scaleDownDelay: 1s`)
    // Which level each ack came from, in order: the ack subject names the level's consumer.
    const acks: Array<string> = []
    const sub = nats.nc.subscribe(`$JS.ACK.${stream}.>`, { callback: (_, m) => { if (m.string() === "+ACK") acks.push(m.subject.split(".")[3]!) } })

    // The jobs wait before any worker runs: 8 low, then 8 high.
    const js = jetstream(nats.nc)
    const publish = async (level: string, n: number) => {
      for (let i = 0; i < n; i++) await js.publish(`jobs.${queue}.${level}`, JSON.stringify({ sleepMs: 100, id: `${level}-${i}` }))
    }
    // The stream exists once the scaler provisioned it: start it first, hold the jobs back with a pin to 0.
    const scaler = scalers.up(path)
    await scaler.waitForOutput("scaler up")
    const admin = await adminUrlOf(scaler)
    expect((await fetch(`${admin}/api/queues/${queue}/scale`, { method: "POST", body: JSON.stringify({ replicas: 0, ttl: "1m" }) })).status).toBe(200)
    await publish("low", 8)
    await publish("high", 8)
    const row = await waitFor("status with each level's pending", async () => {
      const out = await runCli(["status", "--json", "--config", path])
      const r = (JSON.parse(out.stdout).queues as Array<StatusRow>)[0]!
      return r.pending === 16 ? r : undefined
    }, 10_000)
    expect(row.levels).toEqual([{ level: "high", pending: 8, ackPending: 0 }, { level: "normal", pending: 0, ackPending: 0 }, { level: "low", pending: 8, ackPending: 0 }])
    expect((await runCli(["status", "--config", path])).stdout).toContain("16 (high 8, normal 0, low 8)")

    await fetch(`${admin}/api/queues/${queue}/scale`, { method: "DELETE" })
    await waitFor("all 16 acked", () => acks.length >= 16, 30_000)
    expect(acks.filter((l) => l === "workers-high")).toHaveLength(8)
    // High first; never more than 3 high starts in a row while low jobs wait (the bound), and the
    // last high job is done before the low ones are (most of them wait).
    const firstLow = acks.indexOf("workers-low")
    expect(acks[0]).toBe("workers-high")
    let run = 0
    for (const l of acks.slice(0, acks.lastIndexOf("workers-high") + 1)) {
      run = l === "workers-high" ? run + 1 : 0
      expect(run).toBeLessThanOrEqual(4)
    }
    expect(firstLow).toBeGreaterThan(0)
    console.log(`ack order: ${acks.map((l) => l.slice("workers-".length, "workers-".length + 1)).join("")}`)
    expect(acks.slice(-3)).toEqual(["workers-low", "workers-low", "workers-low"])

    // By name: enqueue --priority, the job route's ?priority=, and the middle level by default.
    const byFlag = await runCli(["enqueue", queue, `{"id":"flag"}`, "--priority", "high", "--config", path])
    expect(byFlag.stdout).toContain(`on jobs.${queue}.high`)
    const byDefault = await runCli(["enqueue", queue, `{"id":"default"}`, "--config", path])
    expect(byDefault.stdout).toContain(`on jobs.${queue}.normal`)
    const bad = await runCli(["enqueue", queue, "{}", "--priority", "urgent", "--config", path])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain(`--priority: queue ${queue} has no priority "urgent" (its levels: high, normal, low)`)
    const http = await fetch(`${admin}/api/queues/${queue}/jobs?priority=low`, { method: "POST", body: `{"id":"http"}` })
    expect(http.status).toBe(202)
    expect(((await http.json()) as { subject: string }).subject).toBe(`jobs.${queue}.low`)
    const badHttp = await fetch(`${admin}/api/queues/${queue}/jobs?priority=urgent`, { method: "POST", body: "{}" })
    expect(badHttp.status).toBe(400)
    expect(((await badHttp.json()) as { error: string }).error).toContain(`priority: queue ${queue} has no priority "urgent"`)
    await waitFor("the 3 jobs by name acked", () => acks.length >= 19, 30_000)
    sub.unsubscribe()
  })
})
