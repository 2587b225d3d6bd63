// `idle: suspend` end to end, for both drivers: at idle the replica is cordoned and frozen (docker
// pause / SIGSTOP), not removed; the next job thaws that same replica (no new one starts) and is
// acked; `status` shows it suspended. With docker, a restarted scaler adopts the frozen replica as
// suspended and thaws it for the next job, and `down` removes it.
import { jetstream } from "@nats-io/jetstream"
import { readFile } from "node:fs/promises"
import { describe, expect, it } from "vitest"
import { streamName } from "../../src/jetstream/names.ts"
import { docker, managedContainers } from "../support/docker.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { scalerStatus as scalerStatusOf } from "../support/scaler-status.ts"
import { workerPids } from "../support/processes.ts"
import { uniqueName } from "../support/queue.ts"
import { useScalers } from "../support/scaler-fixture.ts"
import { runCli, writeDemoQueueConfig } from "../support/scaler-process.ts"
import { waitFor } from "../support/wait.ts"

/** The queue, its helpers and the fixtures, for one driver. */
const suspendFixture = (driver: "process" | "docker") => {
  const nats = useNatsServer()
  const scalers = useScalers()

  const setup = async () => {
    const queue = uniqueName("susp")
    if (driver === "docker") scalers.cleanUpQueue(queue)
    const path = await writeDemoQueueConfig({
      natsUrl: nats.server.url, driver, queue,
      settings: { maxReplicas: 1, idle: "suspend", idleTimeout: "1s", scaleDownDelay: "500ms" }
    })
    return { queue, stream: streamName(queue), path }
  }

  const scalerStatus = (queue: string) => scalerStatusOf(nats.nc, queue)

  /** The one replica: its container id or pid, and whether the runtime has it frozen. */
  const replica = async (queue: string) => {
    if (driver === "docker") {
      const [c, ...more] = await managedContainers(queue)
      expect(more).toHaveLength(0)
      return c ? { id: c.Id, frozen: c.State === "paused" } : undefined
    }
    const [pid, ...more] = await workerPids(queue)
    expect(more).toHaveLength(0)
    if (pid === undefined) return undefined
    // /proc/<pid>/stat: the state letter after the command name; T = stopped.
    const stat = await readFile(`/proc/${pid}/stat`, "utf8")
    return { id: String(pid), frozen: stat.slice(stat.lastIndexOf(")") + 2).startsWith("T") }
  }

  const runJob = async (queue: string, stream: string, id: string) => {
    await jetstream(nats.nc).publish(`jobs.${queue}`, JSON.stringify({ id }))
    await waitFor(`job ${id} acked`, async () => (await nats.jsm.streams.info(stream)).state.messages === 0, 20_000)
  }

  const suspended = async (queue: string) => {
    await waitFor("the replica suspended", async () => {
      const s = await scalerStatus(queue)
      return s?.suspended === 1 && s.running === 0 && s.desired === 0 && (await replica(queue))?.frozen === true
    }, 20_000, 100)
  }

  return { scalers, setup, replica, runJob, suspended, scalerStatus }
}

describe.each(["process", "docker"] as const)("idle: suspend with the %s driver", (driver) => {
  const { scalers, setup, replica, runJob, suspended } = suspendFixture(driver)

  it("at idle the replica is frozen, not removed; the next job thaws that same replica and is acked", async () => {
    const { queue, stream, path } = await setup()
    const scaler = scalers.up(path)
    await scaler.waitForOutput("scaler up")
    await runJob(queue, stream, "first")
    const first = await replica(queue)
    await suspended(queue)
    expect((await replica(queue))?.id).toBe(first?.id)
    expect(scaler.output()).toMatch(/suspended worker .+ \(frozen\)/)
    if (driver === "docker") {
      const status = await runCli(["status", "--config", path])
      expect(status.stdout).toMatch(/SUSPENDED/)
      expect(JSON.parse((await runCli(["status", "--json", "--config", path])).stdout).queues[0]).toMatchObject({ replicas: 0, suspended: 1 })
    }
    await runJob(queue, stream, "second")
    const second = await replica(queue)
    expect(second).toEqual({ id: first?.id, frozen: false })
    expect(scaler.output()).toMatch(/thawed worker/)
    expect(scaler.output().match(/started worker/g)).toHaveLength(1)
    // And it goes back to sleep.
    await suspended(queue)
  })

})

describe("idle: suspend, a scaler restart (docker)", () => {
  const { scalers, setup, replica, runJob, suspended } = suspendFixture("docker")

  it("a restarted scaler adopts the frozen replica as suspended and thaws it for the next job; down removes it", async () => {
    const { queue, stream, path } = await setup()
    const first = scalers.up(path)
    await first.waitForOutput("scaler up")
    await runJob(queue, stream, "before")
    const before = await replica(queue)
    await suspended(queue)
    // `up` leaves docker workers running, frozen ones frozen.
    await first.stop("SIGTERM")
    expect((await replica(queue))?.frozen).toBe(true)
    const second = scalers.up(path)
    await second.waitForOutput("scaler up")
    await waitFor("the adoption", () => second.output().includes("1 suspended"), 10_000)
    await suspended(queue)
    await runJob(queue, stream, "after")
    expect(await replica(queue)).toEqual({ id: before?.id, frozen: false })
    expect(second.output()).not.toMatch(/started worker/)
    await second.stop("SIGTERM")
    // Left running or frozen again: `down` removes it either way.
    const left = await replica(queue)
    expect(left).toBeDefined()
    expect(["running", "paused"]).toContain((await docker.getContainer(left!.id).inspect()).State.Status)
    const down = await runCli(["down", "--config", path])
    expect(down.code).toBe(0)
    expect(await managedContainers(queue)).toHaveLength(0)
  })
})
