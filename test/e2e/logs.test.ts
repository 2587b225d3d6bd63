// Worker logs end to end with real containers: the docker driver demultiplexes a container's output
// into the NATS log sink, and removes an exited container only after its log stream ended, so the
// last lines of a worker that exits right after printing are all in JETSCALE_LOGS.
import { jetstream } from "@nats-io/jetstream"
import { Duration, Effect } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import { provisionLogs } from "../../src/logs/provision.ts"
import { readLogs, type StoredLogLine } from "../../src/logs/read.ts"
import { makeLogSink, teeSinks } from "../../src/logs/sink.ts"
import { makeDockerDriver } from "../../src/runtime/docker.ts"
import { docker, managedContainers, removeManaged } from "../support/docker.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { testQueue } from "../support/queue.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const queues: Array<string> = []
afterEach(async () => {
  for (const q of queues.splice(0)) await removeManaged(q)
})

const read = async (queue: string, instance?: string) => {
  const lines: Array<StoredLogLine> = []
  await readLogs(jetstream(nats.nc), { queue, ...(instance ? { instance } : {}) }, (l) => lines.push(l))
  return lines
}

describe("worker logs (docker)", () => {
  it("every line of a container that exits right after printing is in JETSCALE_LOGS, stdout and stderr apart, before it is removed", async () => {
    await Effect.runPromise(provisionLogs(nats.jsm, Duration.hours(1)))
    const n = 20_000
    const q = testQueue("dlogs", {
      image: "jetscale/worker-demo:dev",
      command: ["node", "-e", `for (let i = 0; i < ${n}; i++) console.log('line ' + i); console.error('bye'); console.error('last words')`]
    })
    queues.push(q.name)
    const sink = makeLogSink(nats.nc)
    let seen = 0
    const driver = makeDockerDriver({ network: "host", onLog: teeSinks(sink, () => { seen++ }) })
    const worker = await Effect.runPromise(driver.start({ queue: q, instance: "d1", env: {} }))
    // Remove it the moment it exits: its log stream is typically still thousands of lines behind.
    await docker.getContainer(worker.id).wait()
    const [listed] = await Effect.runPromise(driver.list(q.name))
    expect(listed).toMatchObject({ id: worker.id, state: "exited", exitCode: 0 })
    await Effect.runPromise(driver.remove(worker))
    // When remove returns, every line has gone through the sink and the container is gone.
    expect(seen).toBe(n + 2)
    await sink.flush()
    expect(await managedContainers(q.name)).toEqual([])
    await expect(docker.getContainer(worker.id).inspect()).rejects.toMatchObject({ statusCode: 404 })

    const stored = await waitFor(`all ${n + 2} lines stored`, async () => {
      const lines = await read(q.name)
      return lines.length >= n + 2 && lines
    }, 10_000)
    expect(stored).toHaveLength(n + 2)
    expect(stored.every((l) => l.queue === q.name && l.instance === "d1")).toBe(true)
    expect(stored.filter((l) => l.stream === "stdout").map((l) => l.line)).toEqual(Array.from({ length: n }, (_, i) => `line ${i}`))
    expect(stored.filter((l) => l.stream === "stderr").map((l) => l.line)).toEqual(["bye", "last words"])
    expect(sink.dropped()).toBe(0)
  })
})
