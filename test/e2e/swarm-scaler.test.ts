// The swarm driver under `jetscale up` and `jetscale down`, on a single-node swarm made for this
// file: a placement no node satisfies leaves the replica pending (the scaler says why, once, and
// does not crash-loop), a satisfiable one runs the jobs, a worker Swarm cannot start feeds the
// scaler's crash-loop backoff (Swarm never restarts it), and `down` drains and removes what runs.
import { jetstream } from "@nats-io/jetstream"
import { afterEach, describe, expect, it } from "vitest"
import { streamName } from "../../src/jetstream/names.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { uniqueName } from "../support/queue.ts"
import { useScalers } from "../support/scaler-fixture.ts"
import { runCli, writeConfig, writeDemoQueueConfig } from "../support/scaler-process.ts"
import { managedServices, removeManagedServices, runningServices } from "../support/swarm.ts"
import { useSwarm } from "../support/swarm-fixture.ts"
import { waitFor } from "../support/wait.ts"

useSwarm()
const nats = useNatsServer()
// Registered before the scalers' cleanup, so it runs after it (once no scaler starts workers).
const queues: Array<string> = []
afterEach(async () => {
  for (const q of queues.splice(0)) await removeManagedServices(q)
})
const scalers = useScalers()

const setup = async (placement: string, settings: Readonly<Record<string, string | number>> = {}) => {
  const queue = uniqueName("swp")
  queues.push(queue)
  const path = await writeDemoQueueConfig({
    natsUrl: nats.server.url, driver: "swarm", queue,
    settings: { maxReplicas: 2, targetPending: 10, idleTimeout: "2s", scaleDownDelay: "1s", stopTimeout: "10s", placement, ...settings }
  })
  return { queue, stream: streamName(queue), path }
}
const publish = (queue: string, jobs: ReadonlyArray<object>) => Promise.all(jobs.map((j) => jetstream(nats.nc).publish(`jobs.${queue}`, JSON.stringify(j))))
const count = (text: string, re: RegExp) => text.match(new RegExp(re.source, "g"))?.length ?? 0

describe("swarm driver under the scaler, end to end", () => {
  it("a placement no node satisfies: the replica waits pending, the scaler says why once and does not crash-loop; down removes it", async () => {
    const { queue, stream, path } = await setup(`{ constraints: ["node.labels.jetscale-test-zone==nowhere"] }`)
    const scaler = scalers.up(path)
    await scaler.waitForOutput("scaler up")
    await publish(queue, [{ id: "waits" }])
    await scaler.waitForOutput(/worker jetscale-swp-\S+ is not placed: no suitable node/, 15_000)
    // A few more reconcile steps: still one pending replica, told once, no crash and no new start.
    await new Promise((r) => setTimeout(r, 3000))
    const services = await managedServices(queue)
    expect(services.map((s) => s.task?.Status?.State)).toEqual(["pending"])
    expect(count(scaler.output(), /is not placed: no suitable node/)).toBe(1)
    expect(count(scaler.output(), /started worker/)).toBe(1)
    expect(scaler.output()).not.toMatch(/unexpected exit|died|start\(s\) failed/)
    expect((await nats.jsm.consumers.info(stream, "workers")).num_pending).toBe(1)

    expect(await scaler.stop("SIGTERM")).toBe(0)
    expect((await managedServices(queue)).length).toBe(1)
    const down = await runCli(["down", "--config", path])
    expect(down.stdout).toContain(`${queue}: 1 worker(s) drained and removed`)
    expect(down.code).toBe(0)
    expect(await managedServices(queue)).toEqual([])
  })

  it("a satisfiable placement runs the jobs: the service carries the constraints and the spread preference, and the queue returns to 0", async () => {
    const { queue, stream, path } = await setup(`{ constraints: ["node.role==manager"], preferences: ["spread=node.id"] }`)
    const scaler = scalers.up(path)
    await scaler.waitForOutput("scaler up")
    await publish(queue, Array.from({ length: 5 }, (_, i) => ({ id: `j${i}`, sleepMs: 200 })))
    const [service] = await waitFor("a worker's service", async () => {
      const s = await managedServices(queue)
      return s.length > 0 ? s : undefined
    })
    expect(service?.spec?.TaskTemplate).toMatchObject({
      Placement: { Constraints: ["node.role==manager"], Preferences: [{ Spread: { SpreadDescriptor: "node.id" } }] }
    })
    await waitFor("all 5 jobs acked", async () => {
      const info = await nats.jsm.consumers.info(stream, "workers")
      return info.ack_floor.stream_seq === 5 && info.num_ack_pending === 0
    }, 30_000)
    await waitFor("scale back to 0", async () => (await managedServices(queue)).length === 0, 30_000)
    expect(scaler.output()).not.toMatch(/unexpected exit|died|not placed/)
  })

  it("a worker Swarm cannot start (no such image) feeds the scaler's crash-loop backoff, with Swarm's reason; Swarm never restarts it", async () => {
    const queue = uniqueName("swp")
    queues.push(queue)
    const path = await writeConfig([
      `nats: { url: "${nats.server.url}" }`,
      "runtime: { driver: swarm, docker: { network: host } }",
      "scaler: { interval: 500ms }",
      "queues:",
      `  ${queue}: { image: "jetscale/no-such-image:dev", maxReplicas: 1 }`
    ].join("\n"))
    const scaler = scalers.up(path)
    await scaler.waitForOutput("scaler up")
    let most = 0
    const sampler = setInterval(() => void managedServices(queue).then((s) => (most = Math.max(most, s.length)), () => {}), 100)
    await publish(queue, [{ id: "never-runs" }])
    await scaler.waitForOutput(/2 in a row, next start in (19|20)\d\dms/, 20_000)
    clearInterval(sampler)
    expect(scaler.output()).toMatch(/worker jetscale-swp-\S+ rejected by Swarm: No such image: jetscale\/no-such-image:dev/)
    expect(scaler.output()).toMatch(/worker jetscale-swp-\S+ died \(exit \?\): unexpected exit; 1 in a row, next start in (9|10)\d\dms/)
    expect(most).toBe(1)
  })

  it("idle: suspend: Swarm cannot pause, so the idle replica drains and exits (no crash), said once; the next job starts a new one", async () => {
    const { queue, stream, path } = await setup("{}", { maxReplicas: 1, idle: "suspend" })
    const scaler = scalers.up(path)
    await scaler.waitForOutput("scaler up")
    const acked = (n: number) => async () => {
      const info = await nats.jsm.consumers.info(stream, "workers")
      return info.ack_floor.stream_seq === n && info.num_ack_pending === 0
    }
    await publish(queue, [{ id: "first" }])
    await waitFor("the first job acked", acked(1), 20_000)
    await waitFor("the idle replica gone", async () => (await managedServices(queue)).length === 0, 20_000)
    await publish(queue, [{ id: "second" }])
    await waitFor("the second job acked", acked(2), 20_000)
    expect(count(scaler.output(), /Swarm cannot pause a task: its idle replicas drain and exit instead/)).toBe(1)
    expect(scaler.output()).toMatch(/worker jetscale-swp-\S+ drained and exited/)
    expect(scaler.output()).not.toMatch(/unexpected exit|died/)
  })

  it("down drains a running worker: the job in flight finishes and is acked, and nothing is left", async () => {
    const { queue, stream, path } = await setup("{}", { maxReplicas: 1 })
    const scaler = scalers.up(path)
    await scaler.waitForOutput("scaler up")
    await publish(queue, [{ id: "in-flight", sleepMs: 3000 }])
    await waitFor("the job in flight", async () => (await nats.jsm.consumers.info(stream, "workers")).num_ack_pending === 1, 20_000)
    expect(await scaler.stop("SIGTERM")).toBe(0)
    expect(await runningServices(queue)).toBe(1)
    const down = await runCli(["down", "--config", path])
    expect(down.stdout).toContain(`${queue}: 1 worker(s) drained and removed`)
    expect(await managedServices(queue)).toEqual([])
    const info = await nats.jsm.consumers.info(stream, "workers")
    expect(info.ack_floor.stream_seq).toBe(1)
    expect(info.num_redelivered).toBe(0)
  })
})
