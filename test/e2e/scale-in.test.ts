// Job-aware scale-in end to end, for both drivers: long jobs are never interrupted when the queue
// scales in below the replicas that carry them (an override; the policy itself keeps those), each
// starts exactly once, surplus replicas show as draining until their jobs are done, and a scaler
// restarted while replicas drain adopts them as draining (docker).
import { jetstream } from "@nats-io/jetstream"
import { describe, expect, it } from "vitest"
import { streamName } from "../../src/jetstream/names.ts"
import { managedContainers } from "../support/docker.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { scalerStatus as scalerStatusOf } from "../support/scaler-status.ts"
import { uniqueName } from "../support/queue.ts"
import { useScalers } from "../support/scaler-fixture.ts"
import { adminUrlOf } from "../support/dashboard.ts"
import { writeConfig, writeDemoQueueConfig, type ScalerProcess } from "../support/scaler-process.ts"
import { waitFor } from "../support/wait.ts"

const longJobMs = 8000

describe.each(["process", "docker"] as const)("scale-in with the %s driver", (driver) => {
  const nats = useNatsServer()
  const scalers = useScalers()

  /** The queue: one job per replica, 4 replicas at most, a short stopTimeout and scale-down delay. */
  const setup = async () => {
    const queue = uniqueName("scalein")
    if (driver === "docker") scalers.cleanUpQueue(queue)
    const path = await writeDemoQueueConfig({
      natsUrl: nats.server.url, driver, queue,
      settings: { concurrency: 1, maxReplicas: 4, targetPending: 4, stopTimeout: "2s", scaleDownDelay: "1s", idleTimeout: "3s" }
    })
    return { queue, stream: streamName(queue), path }
  }

  const scalerStatus = (queue: string) => scalerStatusOf(nats.nc, queue)

  /** 12 jobs of 150 ms, then 4 of `longJobMs`: once the short ones are done the backlog is 4 and the policy wants 1 replica. */
  const publishMix = async (queue: string) => {
    const js = jetstream(nats.nc)
    for (let i = 0; i < 12; i++) await js.publish(`jobs.${queue}`, JSON.stringify({ id: `short-${i}`, sleepMs: 150 }))
    for (let i = 0; i < 4; i++) await js.publish(`jobs.${queue}`, JSON.stringify({ id: `long-${i}`, sleepMs: longJobMs }))
  }

  /**
   * Once the short jobs are done, the 4 long ones run on the 4 replicas: the policy keeps the replicas
   * that carry jobs in flight, so the scale-in comes from an override to 1 (as an operator would).
   */
  const scaleInWhileBusy = async (queue: string, stream: string, scaler: ScalerProcess) => {
    await waitFor("the 4 long jobs in flight, nothing waiting", async () => {
      const c = await nats.jsm.consumers.info(stream, "workers")
      return c.num_pending === 0 && c.num_ack_pending === 4
    }, 30_000)
    // Workers report their jobs in flight every second: the scaler then knows each replica is busy.
    await new Promise((r) => setTimeout(r, 1500))
    const res = await fetch(`${await adminUrlOf(scaler)}/api/queues/${queue}/scale`, { method: "POST", body: JSON.stringify({ replicas: 1, ttl: "2m" }) })
    expect(res.status, await res.text()).toBe(200)
  }
  const scaleAuto = async (queue: string, scaler: ScalerProcess) =>
    void await fetch(`${await adminUrlOf(scaler)}/api/queues/${queue}/scale`, { method: "DELETE" })

  const allDone = async (stream: string) => {
    const c = await nats.jsm.consumers.info(stream, "workers")
    return c.num_pending === 0 && c.num_ack_pending === 0 && c.ack_floor.stream_seq === 16 && (await nats.jsm.streams.info(stream)).state.messages === 0
  }

  it("4 long jobs start exactly 4 times across a scale-in; surplus replicas drain instead of being stopped", async () => {
    const { queue, stream, path } = await setup()
    const scaler = scalers.up(path)
    await scaler.waitForOutput("scaler up")
    let maxDraining = 0
    const sampler = setInterval(() => void scalerStatus(queue).then((s) => (maxDraining = Math.max(maxDraining, s?.draining ?? 0)), () => {}), 200)
    await publishMix(queue)
    await scaleInWhileBusy(queue, stream, scaler)
    await waitFor("all 16 jobs acked", () => allDone(stream), 60_000)
    clearInterval(sampler)
    await scaleAuto(queue, scaler)
    const consumer = await nats.jsm.consumers.info(stream, "workers")
    expect(consumer.num_redelivered).toBe(0)
    expect(consumer.delivered.stream_seq).toBe(16)
    expect(maxDraining).toBeGreaterThanOrEqual(1)
    expect(scaler.output()).toMatch(/draining worker .+ \(1 job\(s\) in flight\)/)
    expect(scaler.output()).not.toMatch(/unexpected exit|died|stop timeout|handing back/)
    await waitFor("back to 0 replicas", async () => {
      const s = await scalerStatus(queue)
      return s?.running === 0 && s.draining === 0 && (driver === "process" || (await managedContainers(queue)).length === 0)
    }, 30_000)
  })

  if (driver === "docker") {
    it("a queue removed from the config: a restarted scaler shuts its workers down (they finish their jobs) and removes them", async () => {
      const { queue: kept } = await setup()
      const removed = uniqueName("removed")
      scalers.cleanUpQueue(removed)
      const queueYaml = (name: string) => `  ${name}:\n    image: jetscale/worker-demo:dev\n    maxReplicas: 1\n    idleTimeout: 60s\n    stopTimeout: 10s\n`
      const head = `nats: { url: "${nats.server.url}" }\nruntime: { driver: docker, docker: { network: host } }\nscaler: { interval: 500ms }\nqueues:\n`
      const first = scalers.up(await writeConfig(head + queueYaml(kept) + queueYaml(removed)))
      await first.waitForOutput("scaler up")
      await jetstream(nats.nc).publish(`jobs.${removed}`, JSON.stringify({ id: "last-job", sleepMs: 3000 }))
      await waitFor("the removed queue's job in flight", async () => (await nats.jsm.consumers.info(streamName(removed), "workers")).num_ack_pending === 1, 30_000)
      expect(await first.stop("SIGTERM")).toBe(0)
      const second = scalers.up(await writeConfig(head + queueYaml(kept)))
      await second.waitForOutput(`queue ${removed} is no longer in the config: shutting down its worker`)
      await waitFor("the removed queue's containers gone", async () => (await managedContainers(removed)).length === 0, 30_000)
      const c = await nats.jsm.consumers.info(streamName(removed), "workers")
      expect({ pending: c.num_pending, ackPending: c.num_ack_pending, redelivered: c.num_redelivered }).toEqual({ pending: 0, ackPending: 0, redelivered: 0 })
      expect((await nats.jsm.streams.info(streamName(removed))).state.messages).toBe(0)
    })

    it("a scaler restarted while replicas drain adopts them as draining: no crash, no restart, no job run twice", async () => {
      const { queue, stream, path } = await setup()
      const first = scalers.up(path)
      await first.waitForOutput("scaler up")
      await publishMix(queue)
      await scaleInWhileBusy(queue, stream, first)
      await waitFor("2 replicas draining", async () => ((await scalerStatus(queue))?.draining ?? 0) >= 2, 30_000)
      await first.stop("SIGKILL")
      const second = scalers.up(path)
      await second.waitForOutput(/adopted \d+ running worker\(s\) and \d+ draining/)
      await waitFor("the new scaler to show draining replicas", async () => ((await scalerStatus(queue))?.draining ?? 0) >= 1, 10_000)
      await waitFor("all 16 jobs acked", () => allDone(stream), 60_000)
      expect((await nats.jsm.consumers.info(stream, "workers")).num_redelivered).toBe(0)
      await waitFor("back to 0 containers", async () => (await managedContainers(queue)).length === 0, 30_000)
      expect(second.output()).toMatch(/drained and exited/)
      expect(second.output()).not.toMatch(/unexpected exit|died/)
    })
  }
})
