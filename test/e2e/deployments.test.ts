// Two jetscale deployments side by side: on one Docker host (even with the same queue name, on two
// NATS servers) neither lists, adopts or drains the other's containers; on one NATS server each
// dead-letters its own queues' jobs through its own advisories stream, and a queue stream of one
// deployment is refused to the other.
import { jetstream } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { streamName } from "../../src/jetstream/names.ts"
import { managedContainers } from "../support/docker.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { startNatsServer, type NatsServer } from "../support/nats-server.ts"
import { uniqueName } from "../support/queue.ts"
import { useScalers } from "../support/scaler-fixture.ts"
import { runCli, writeConfig } from "../support/scaler-process.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const scalers = useScalers()
let second: NatsServer
let secondNc: NatsConnection

beforeAll(async () => {
  second = await startNatsServer()
  secondNc = await connect({ servers: second.url })
})
afterAll(async () => {
  await secondNc?.close()
  await second?.stop()
})

const config = (deployment: string, url: string, driver: "docker" | "process", queues: string) => writeConfig(`
deployment: ${deployment}
nats: { url: "${url}" }
runtime: { driver: ${driver}, docker: { network: host } }
scaler: { interval: 500ms }
queues:
${queues}`)

const queueYaml = (queue: string, extra = "") => `  ${queue}:
    image: jetscale/worker-demo:dev
    command: [node, services/workers/demo/dist/main.js]
    maxReplicas: 2
    targetPending: 5
    idleTimeout: 2s
    scaleDownDelay: 1s
    stopTimeout: 5s
${extra}`

const drained = async (nc: NatsConnection, queue: string, n: number) => {
  const jsm = await jetstream(nc).jetstreamManager()
  const c = await jsm.consumers.info(streamName(queue), "workers")
  return c.ack_floor.stream_seq === n && c.num_pending === 0 && c.num_ack_pending === 0
}

describe("two deployments side by side", () => {
  it("one Docker host, the same queue name on two NATS servers: each deployment sees only its own containers", async () => {
    const queue = uniqueName("dep")
    scalers.cleanUpQueue(queue)
    const blue = scalers.up(await config("blue", nats.server.url, "docker", queueYaml(queue)))
    const green = scalers.up(await config("green", second.url, "docker", queueYaml(queue)))
    await blue.waitForOutput("scaler up")
    await green.waitForOutput("scaler up")
    for (const nc of [nats.nc, secondNc]) {
      const js = jetstream(nc)
      for (let i = 0; i < 10; i++) await js.publish(`jobs.${queue}`, JSON.stringify({ sleepMs: 400, id: `j${i}` }))
    }
    // Each deployment's containers may come and go at different times on a loaded machine: collect
    // what was seen rather than asking for both at one instant.
    const seen = new Set<string>()
    const names = new Set<string>()
    await waitFor("both deployments' containers", async () => {
      for (const c of await managedContainers(queue)) {
        seen.add(c.Labels["io.jetscale.deployment"] ?? "")
        names.add(c.Names[0]!)
      }
      return seen.has("blue") && seen.has("green")
    }, 30_000)
    expect([...names].every((n) => n.startsWith(`/jetscale-blue-${queue}-`) || n.startsWith(`/jetscale-green-${queue}-`))).toBe(true)
    await waitFor("both queues drained", async () => (await drained(nats.nc, queue, 10)) && (await drained(secondNc, queue, 10)), 60_000)
    await waitFor("both back to zero containers", async () => (await managedContainers(queue)).length === 0, 30_000)
    for (const [scaler, other] of [[blue, "green"], [green, "blue"]] as const) {
      expect(scaler.output()).not.toContain(`jetscale-${other}-`)
      expect(scaler.output()).not.toMatch(/unexpected exit|died|adopted/)
    }
    for (const nc of [nats.nc, secondNc]) {
      expect((await (await jetstream(nc).jetstreamManager()).consumers.info(streamName(queue), "workers")).num_redelivered).toBe(0)
    }
  })

  it("one NATS server: each deployment dead-letters its own jobs through its own advisories stream; a queue of one is refused to the other", async () => {
    const blueQueue = uniqueName("dep-b")
    const greenQueue = uniqueName("dep-g")
    const failing = "    maxDeliver: 2\n    backoff: [100ms]\n"
    const bluePath = await config("blue", nats.server.url, "process", queueYaml(blueQueue, failing))
    const blue = scalers.up(bluePath)
    const green = scalers.up(await config("green", nats.server.url, "process", queueYaml(greenQueue, failing)))
    await blue.waitForOutput("scaler up")
    await green.waitForOutput("scaler up")
    const js = jetstream(nats.nc)
    for (const q of [blueQueue, greenQueue]) for (let i = 0; i < 3; i++) await js.publish(`jobs.${q}`, JSON.stringify({ fail: "always", id: `${q}-${i}` }))
    await waitFor("3 dead letters of each queue", async () => {
      const info = await nats.jsm.streams.info("JETSCALE_DLQ", { subjects_filter: "jetscale.dlq.>" })
      return info.state.subjects?.[`jetscale.dlq.${blueQueue}`] === 3 && info.state.subjects?.[`jetscale.dlq.${greenQueue}`] === 3
    }, 30_000)
    expect((await nats.jsm.streams.info("JETSCALE_ADVISORIES_BLUE")).config.subjects).toEqual([`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${streamName(blueQueue)}.workers`])
    expect((await nats.jsm.streams.info("JETSCALE_ADVISORIES_GREEN")).config.subjects).toEqual([`$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${streamName(greenQueue)}.workers`])
    for (const s of [blue, green]) expect(s.output()).not.toMatch(/not a queue of this config|left for its own scaler/)

    const status = await runCli(["status", "--json", "--config", bluePath])
    expect(JSON.parse(status.stdout).queues[0]).toMatchObject({ name: blueQueue, desired: expect.any(Number) })

    const thief = await runCli(["up", "--config", await config("green", nats.server.url, "process", queueYaml(blueQueue))])
    expect(thief.code).toBe(1)
    expect(thief.stderr).toContain(`stream ${streamName(blueQueue)}: belongs to the jetscale deployment blue, not green`)
  })
})
