// Scaling policies end to end (`jetscale up`, process driver, real nats-server): the waitTime signal
// reads the oldest waiting job from the stream and decides (the status names it), utilization reads
// the workers' reports, rate the consumer's sequence and the workers' job times; the shared budget
// (`scaler.maxReplicas`) holds the sum of every queue's workers, grants the high-priority queue first
// and never starves the other to zero; status shows what each queue wants and was granted.
import { jetstream } from "@nats-io/jetstream"
import { describe, expect, it } from "vitest"
import type { StatusRow } from "../../src/cli/status.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { uniqueName } from "../support/queue.ts"
import { useScalers } from "../support/scaler-fixture.ts"
import { runCli, writeConfig } from "../support/scaler-process.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const scalers = useScalers()

const demo = `    command: ["node", "services/workers/demo/dist/main.js"]
    concurrency: 1
    idleTimeout: 2s
    scaleDownDelay: 1s
    stopTimeout: 5s`

/** A config of this NATS with the process driver, a 250ms tick, `scaler` settings and the queues' YAML. */
const config = (queuesYaml: string, scaler = "") => writeConfig(`
nats: { url: "${nats.server.url}" }
runtime: { driver: process }
scaler: { interval: 250ms${scaler} }
queues:
${queuesYaml}`)

const statusOf = async (path: string): Promise<ReadonlyArray<StatusRow>> => {
  const out = await runCli(["status", "--json", "--config", path])
  return JSON.parse(out.stdout).queues
}

const publish = async (queue: string, n: number, sleepMs: number) => {
  const js = jetstream(nats.nc)
  for (let i = 0; i < n; i++) await js.publish(`jobs.${queue}`, JSON.stringify({ sleepMs, id: `${queue}-${i}` }))
}

describe("scaling policies, end to end", () => {
  it("waitTime: slow jobs waiting longer than targetWait scale the queue out where the backlog alone would not", async () => {
    const queue = uniqueName("wait")
    const path = await config(`  ${queue}:
${demo}
    maxReplicas: 4
    targetPending: 1000
    signals: [backlog, waitTime]
    targetWait: 1s`)
    const scaler = scalers.up(path)
    await scaler.waitForOutput("scaler up")
    await publish(queue, 12, 1500)
    const row = await waitFor("the waitTime signal to scale out", async () => {
      const r = (await statusOf(path))[0]!
      return r.signal === "waitTime" && (r.desired ?? 0) >= 3 ? r : undefined
    }, 30_000, 250)
    expect(row.wanted).toBeGreaterThanOrEqual(3)
    expect(scaler.output()).toMatch(/waitTime: oldest/)
  })

  it("utilization: busy slots above scaleUpAt, from the workers' reports, scale the queue out", async () => {
    const queue = uniqueName("util")
    const path = await config(`  ${queue}:
${demo}
    maxReplicas: 3
    targetPending: 1000
    signals: [backlog, utilization]
    scaleUpAt: 0.5
    scaleDownAt: 0.1`)
    const scaler = scalers.up(path)
    await scaler.waitForOutput("scaler up")
    await publish(queue, 10, 1500)
    const row = await waitFor("the utilization signal to scale out", async () => {
      const r = (await statusOf(path))[0]!
      return r.signal === "utilization" && r.replicas >= 2 ? r : undefined
    }, 30_000, 250)
    expect(row.wanted).toBeGreaterThanOrEqual(2)
  })

  it("rate: a steady stream of quick jobs gets replicas by arrival rate x mean job time before a backlog forms", async () => {
    const queue = uniqueName("rate")
    const path = await config(`  ${queue}:
${demo}
    maxReplicas: 4
    targetPending: 1000
    signals: [backlog, rate]`)
    const scaler = scalers.up(path)
    await scaler.waitForOutput("scaler up")
    // About 20 jobs/s of 150 ms on one slot per replica: 3 replicas by Little's law (20 x 0.15).
    const js = jetstream(nats.nc)
    let sent = 0
    const steady = setInterval(() => void js.publish(`jobs.${queue}`, JSON.stringify({ sleepMs: 150, id: `r${sent++}` })), 50)
    try {
      const row = await waitFor("the rate signal to decide", async () => {
        const r = (await statusOf(path))[0]!
        return r.signal === "rate" && r.replicas >= 2 ? r : undefined
      }, 30_000, 250)
      expect(row.wanted).toBeGreaterThanOrEqual(2)
      expect(scaler.output()).toMatch(/rate: [\d.]+\/s x mean job/)
    } finally {
      clearInterval(steady)
    }
  })

  it("scaler.maxReplicas: the high-priority queue is granted first, the other keeps one, and the sum never exceeds the budget", async () => {
    const [high, low] = [uniqueName("hi"), uniqueName("lo")]
    const path = await config(`  ${high}:
${demo}
    maxReplicas: 4
    targetPending: 2
    priority: 10
  ${low}:
${demo}
    maxReplicas: 4
    targetPending: 2`, ", maxReplicas: 3")
    const scaler = scalers.up(path)
    await scaler.waitForOutput("scaler up")
    await publish(low, 80, 400)
    await publish(high, 30, 400)
    const seen: Array<number> = []
    const rows = await waitFor("high granted 2 of 4, low 1 of 4", async () => {
      const rows = await statusOf(path)
      seen.push(rows.reduce((sum, r) => sum + r.replicas, 0))
      const [h, l] = [rows.find((r) => r.name === high)!, rows.find((r) => r.name === low)!]
      return h.granted === 2 && h.replicas === 2 && l.granted === 1 && l.replicas === 1 ? rows : undefined
    }, 30_000, 200)
    expect(rows.find((r) => r.name === high)!.wanted).toBe(4)
    expect(rows.find((r) => r.name === low)!.wanted).toBe(4)
    expect(Math.max(...seen)).toBeLessThanOrEqual(3)
    // Once the high-priority queue is done, the low one gets the whole budget.
    const lowAll = await waitFor("low granted 3 once high is drained", async () => {
      const l = (await statusOf(path)).find((r) => r.name === low)!
      return l.granted === 3 && l.replicas === 3 ? l : undefined
    }, 40_000, 250)
    expect(lowAll.wanted).toBeGreaterThanOrEqual(3)
    const table = await runCli(["status", "--config", path])
    expect(table.stdout).toMatch(/WANTED\s+GRANTED/)
  })
})
