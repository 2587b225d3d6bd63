// A highly available scaler: two or three `jetscale up` with one config on a real nats-server and
// Docker engine. One leads (a lease in the KV bucket jetscale_leases), the others stand by; the
// leader SIGKILLed mid-burst is replaced within two lease periods, the new leader adopts the running
// workers, no job is lost and replicas never exceed maxReplicas. A leader paused (SIGSTOP) past its
// lease steps down on SIGCONT without starting or stopping anything.
import { jetstream, RetentionPolicy, StorageType } from "@nats-io/jetstream"
import { readFile, writeFile } from "node:fs/promises"
import { describe, expect, it } from "vitest"
import { leaderEventSubject, streamName } from "../../src/jetstream/names.ts"
import type { LeaderEvent } from "../../src/scaler/leadership.ts"
import { managedContainers } from "../support/docker.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { uniqueName } from "../support/queue.ts"
import { useScalers } from "../support/scaler-fixture.ts"
import { writeConfig, type ScalerProcess } from "../support/scaler-process.ts"
import { waitFor } from "../support/wait.ts"

const leaseMs = 2000
const maxReplicas = 3

describe("a highly available scaler", () => {
  const nats = useNatsServer()
  const scalers = useScalers()

  it("the standby takes over from a SIGKILLed leader; a paused leader steps down without acting", async () => {
    const queue = uniqueName("ha")
    scalers.cleanUpQueue(queue)
    const stream = streamName(queue)
    const path = await writeConfig([
      `nats: { url: "${nats.server.url}" }`,
      "runtime: { driver: docker, docker: { network: host } }",
      `scaler: { interval: 500ms, lease: ${leaseMs}ms }`,
      `admin: { listen: "127.0.0.1:0" }`,
      "queues:",
      `  ${queue}:`,
      "    image: jetscale/worker-demo:dev",
      `    maxReplicas: ${maxReplicas}`,
      "    targetPending: 5",
      "    concurrency: 2",
      "    idleTimeout: 5s",
      "    scaleDownDelay: 1s",
      "    stopTimeout: 10s"
    ].join("\n"))
    const events: Array<LeaderEvent> = []
    const sub = nats.nc.subscribe(leaderEventSubject, { callback: (_e, m) => void events.push(m.json<LeaderEvent>()) })
    const adminOf = async (s: ScalerProcess) => {
      const line = /admin API on (http:\/\/[\d.]+:\d+)/
      await s.waitForOutput(line)
      return line.exec(s.output())![1]!
    }

    const a = scalers.up(path)
    await a.waitForOutput(/scaler up: /)
    const b = scalers.up(path)
    await b.waitForOutput("scaler up (standby; leader: ")
    // the standby serves status (the leader's view), metrics (marked standby) and readiness
    const bAdmin = await adminOf(b)
    const bReady = await fetch(`${bAdmin}/readyz`)
    expect(bReady.status).toBe(200)
    expect(((await bReady.json()) as { scaler: { role: string; leader: string } }).scaler).toMatchObject({ role: "standby", leader: expect.stringMatching(/-\d+-/) })
    expect(await (await fetch(`${bAdmin}/metrics`)).text()).toMatch(/jetscale_scaler_leader\{deployment="default"\} 0/)
    expect(((await (await fetch(`${bAdmin}/api/queues`)).json()) as { queues: Array<{ name: string }> }).queues.map((q) => q.name)).toEqual([queue])
    const refused = await fetch(`${bAdmin}/api/queues/${queue}/scale`, { method: "POST", body: JSON.stringify({ replicas: 1, ttl: "1m" }) })
    expect(refused.status).toBe(503)
    expect(((await refused.json()) as { error: string }).error).toContain("is a standby")

    let peak = 0
    const sampler = setInterval(() => void managedContainers(queue).then((cs) => {
      peak = Math.max(peak, cs.filter((c) => c.State === "running").length)
    }, () => {}), 100)
    try {
      const js = jetstream(nats.nc)
      const total = 150
      await Promise.all(Array.from({ length: total }, (_, i) => js.publish(`jobs.${queue}`, JSON.stringify({ sleepMs: 300, id: `j${i}` }))))
      await waitFor("workers running", async () => (await managedContainers(queue)).filter((c) => c.State === "running").length >= 2, 60_000, 100)

      // the leader dies mid-burst
      const killedAt = Date.now()
      await a.stop("SIGKILL")
      // On one host the standby sees at once that the holder's process is gone; across hosts the lease runs out.
      await b.waitForOutput(/leader of deployment default \((its holder .* is gone|the lease of .* went unrenewed)/, 4 * leaseMs + 5000)
      const failoverMs = Date.now() - killedAt
      await b.waitForOutput(/adopted \d+ running worker/, 20_000)
      await waitFor("every job acked", async () => {
        const c = await nats.jsm.consumers.info(stream, "workers")
        return c.ack_floor.stream_seq === total && c.num_pending === 0 && c.num_ack_pending === 0
      }, 90_000, 250)
      expect((await nats.jsm.streams.info(stream)).state.messages).toBe(0)
      console.log(`ha: leader SIGKILLed -> standby leading after ${failoverMs} ms (lease ${leaseMs} ms); ${total} jobs, 0 lost; peak ${peak} replicas`)
      expect(failoverMs).toBeLessThan(2 * leaseMs + 1500)
      expect(peak).toBeLessThanOrEqual(maxReplicas)
      expect(events.some((e) => e.role === "leader" && e.leader === e.scaler && e.scaler !== events[0]?.scaler)).toBe(true)

      // a paused leader: a third scaler stands by, the leader (b) is stopped past its lease, work arrives
      const c = scalers.up(path)
      await c.waitForOutput("scaler up (standby; leader: ")
      process.kill(b.pid, "SIGSTOP")
      const stoppedAt = Date.now()
      // b is alive (stopped): c waits for its lease to run out
      await c.waitForOutput(/leader of deployment default \(the lease of .* went unrenewed for 2s\)/, 4 * leaseMs + 5000)
      const leaseFailoverMs = Date.now() - stoppedAt
      console.log(`ha: leader SIGSTOPped -> standby leading after ${leaseFailoverMs} ms (lease ${leaseMs} ms)`)
      expect(leaseFailoverMs).toBeLessThan(2 * leaseMs + 1500)
      await Promise.all(Array.from({ length: 30 }, (_, i) => js.publish(`jobs.${queue}`, JSON.stringify({ sleepMs: 200, id: `k${i}` }))))
      await new Promise((r) => setTimeout(r, 1000))
      const before = b.output().length
      process.kill(b.pid, "SIGCONT")
      await b.waitForOutput(/standby of deployment default \(the lease was taken over\)/, 10_000)
      await waitFor("the second burst acked", async () => (await nats.jsm.consumers.info(stream, "workers")).ack_floor.stream_seq === total + 30, 60_000, 250)
      const afterResume = b.output().slice(before)
      expect(afterResume).not.toMatch(/started worker|drained and exited|thawed worker|suspended worker/)
      expect(peak).toBeLessThanOrEqual(maxReplicas)

      // a config the leader must refuse (a queue whose stream would need a recreate) is refused by
      // the standby too: it could not take over with it
      const conflicting = uniqueName("ha-limits")
      await nats.jsm.streams.add({ name: streamName(conflicting), subjects: [`jobs.${conflicting}`], retention: RetentionPolicy.Limits, storage: StorageType.File })
      await writeFile(path, `${(await readFile(path, "utf8")).trimEnd()}\n  ${conflicting}:\n    image: jetscale/worker-demo:dev\n`)
      for (const s of [c, b]) await s.waitForOutput(/refused \(file\); the running config stays:\n  stream JETSCALE_HA_LIMITS.*retention is limits, jetscale needs workqueue/, 20_000)
    } finally {
      clearInterval(sampler)
      sub.unsubscribe()
    }
  }, 150_000)
})
