// The end-to-end scaling scenario, run once per runtime driver against a real nats-server (and a real
// dockerd for the docker driver, a single-node swarm made for the file for the swarm driver):
// 0 -> maxReplicas -> 0, and a scaler restart in the middle of a run.
import { jetstream } from "@nats-io/jetstream"
import { afterEach, describe, expect, it } from "vitest"
import { streamName } from "../../src/jetstream/names.ts"
import type { ScaleEvent } from "../../src/scaler/events.ts"
import type { QueueStatus } from "../../src/scaler/queue-loop.ts"
import { statusSubject } from "../../src/scaler/scaler.ts"
import { managedContainers } from "../support/docker.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { uniqueName } from "../support/queue.ts"
import { useScalers } from "../support/scaler-fixture.ts"
import { managedServices, removeManagedServices, runningServices } from "../support/swarm.ts"
import { useSwarm } from "../support/swarm-fixture.ts"
import { writeDemoQueueConfig } from "../support/scaler-process.ts"
import { waitFor } from "../support/wait.ts"

const maxReplicas = 4

export const describeScaling = (driver: "docker" | "process" | "swarm") => describe(`${driver} driver, end to end`, () => {
  if (driver === "swarm") useSwarm()
  const nats = useNatsServer()
  // Registered before the scalers' cleanup, so it runs after it (once no scaler starts workers).
  const swarmQueues: Array<string> = []
  afterEach(async () => {
    for (const q of swarmQueues.splice(0)) await removeManagedServices(q)
  })
  const scalers = useScalers()

  const setup = async () => {
    const queue = uniqueName("e2e")
    if (driver === "docker") scalers.cleanUpQueue(queue)
    if (driver === "swarm") swarmQueues.push(queue)
    const path = await writeDemoQueueConfig({
      natsUrl: nats.server.url, driver, queue,
      settings: { maxReplicas, targetPending: 10, concurrency: 4, idleTimeout: "3s", scaleDownDelay: "1s", stopTimeout: "10s", limits: "{ memory: 256m, cpus: 0.5, pids: 256 }" }
    })
    const events: Array<ScaleEvent> = []
    const sub = nats.nc.subscribe(`jetscale.events.scale.${queue}`, { callback: (_e, m) => void events.push(m.json<ScaleEvent>()) })
    const start = () => {
      return scalers.up(path)
    }
    return { queue, stream: streamName(queue), events, sub, start }
  }

  /** Running workers as the runtime sees them: containers for docker, tasks for swarm, the scaler's count for processes. */
  const running = async (queue: string): Promise<number> => {
    if (driver === "docker") return (await managedContainers(queue)).filter((c) => c.State === "running").length
    if (driver === "swarm") return runningServices(queue)
    const reply = await nats.nc.request(statusSubject, "", { timeout: 1000 })
    return reply.json<{ queues: Array<QueueStatus> }>().queues.find((q) => q.name === queue)?.running ?? 0
  }
  const leftovers = async (queue: string) =>
    driver === "docker" ? (await managedContainers(queue)).length : driver === "swarm" ? (await managedServices(queue)).length : running(queue)
  /** The ids of the running workers (containers, services), for a runtime that outlives the scaler. */
  const runningIds = async (queue: string) => driver === "docker"
    ? (await managedContainers(queue)).filter((c) => c.State === "running").map((c) => c.Id).sort()
    : (await managedServices(queue)).filter((s) => s.task?.Status?.State === "running").map((s) => s.id).sort()

  const publish = async (queue: string, n: number, payload: object) => {
    const js = jetstream(nats.nc)
    await Promise.all(Array.from({ length: n }, (_, i) => js.publish(`jobs.${queue}`, JSON.stringify({ ...payload, id: `j${i}` }))))
  }
  const allAcked = async (stream: string, n: number) => {
    const info = await nats.jsm.consumers.info(stream, "workers")
    const state = await nats.jsm.streams.info(stream)
    return info.ack_floor.stream_seq === n && info.num_ack_pending === 0 && info.num_pending === 0 && state.state.messages === 0
  }

  it("scales 0 -> maxReplicas on 200 jobs, acks them all, and returns to 0 with nothing left", async () => {
    const { queue, stream, events, sub, start } = await setup()
    const scaler = start()
    await scaler.waitForOutput("scaler up")
    expect(await running(queue)).toBe(0)

    let peak = 0
    const sampler = setInterval(() => void running(queue).then((n) => (peak = Math.max(peak, n)), () => {}), 100)
    await publish(queue, 200, { sleepMs: 50 })
    await waitFor("all 200 jobs acked", () => allAcked(stream, 200), 60_000)
    await waitFor(`${maxReplicas} workers running`, () => peak === maxReplicas, 10_000)
    await waitFor("scale back to 0 after idleTimeout", async () => (await leftovers(queue)) === 0, 40_000)
    clearInterval(sampler)

    expect(events[0]).toMatchObject({ queue, from: 0, to: maxReplicas, direction: "up", kind: "wake" })
    expect(events.at(-1)).toMatchObject({ queue, to: 0, direction: "down" })
    expect(scaler.output()).not.toMatch(/died|unexpected exit/)
    sub.unsubscribe()
  })

  it("a scaler restarted mid-run carries on with the running workers, and nothing is lost", async () => {
    const { queue, stream, sub, start } = await setup()
    const first = start()
    await first.waitForOutput("scaler up")
    await publish(queue, 200, { sleepMs: 250 })
    await waitFor(`${maxReplicas} workers running`, async () => (await running(queue)) === maxReplicas, 20_000)
    const before = driver === "process" ? [] : await runningIds(queue)

    expect(await first.stop("SIGTERM")).toBe(0)
    if (driver !== "process") {
      // Control plane down, data plane still working.
      expect(await runningIds(queue)).toEqual(before)
    }
    const second = start()
    if (driver !== "process") await second.waitForOutput(`adopted ${maxReplicas} running worker(s)`)
    await waitFor("all 200 jobs acked", () => allAcked(stream, 200), 90_000)
    await waitFor("scale back to 0", async () => (await leftovers(queue)) === 0, 40_000)
    const redelivered = (await nats.jsm.consumers.info(stream, "workers")).num_redelivered
    expect(redelivered).toBe(0)
    sub.unsubscribe()
  })
})
