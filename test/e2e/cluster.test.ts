// Replicated queues on a real 3-node NATS cluster (loopback routes, one store per node): a queue with
// `replicas: 3` keeps its jobs flowing while the node leading its stream is SIGKILLed and started
// again; a ledger of job ids written by the workers shows none lost. The scaler and its workers
// reconnect to the surviving nodes on their own. Also: `replicas` changed in place, and jetscale's
// own streams replicated by `jetstream.replicas`.
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { Duration, Effect } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { provisionQueue } from "../../src/jetstream/provision.ts"
import { defaultDlqMaxBytes, provisionDeadLettering } from "../../src/dlq/provision.ts"
import { defaultLogsMaxBytes, provisionLogs } from "../../src/logs/provision.ts"
import { dlqStream, streamName } from "../../src/jetstream/names.ts"
import { startNatsCluster, type NatsCluster } from "../support/nats-cluster.ts"
import { testQueue, uniqueName } from "../support/queue.ts"
import { useScalers } from "../support/scaler-fixture.ts"
import { writeConfig } from "../support/scaler-process.ts"
import { waitFor } from "../support/wait.ts"

describe("a NATS cluster with replicated queues", () => {
  let cluster: NatsCluster
  let nc: NatsConnection
  let jsm: JetStreamManager
  const scalers = useScalers()
  beforeAll(async () => {
    cluster = await startNatsCluster(3)
    nc = await connect({ servers: cluster.nodes.map((n) => n.url), maxReconnectAttempts: -1, reconnectTimeWait: 250 })
    jsm = await jetstreamManager(nc)
  }, 60_000)
  afterAll(async () => {
    await nc?.close()
    await cluster?.stop()
  })

  it("changes a stream's replicas in place, keeping its messages", async () => {
    const q = testQueue("grow", { replicas: 1 })
    expect((await Effect.runPromise(provisionQueue(jsm, q))).stream).toBe("created")
    const js = jetstream(nc)
    for (let i = 0; i < 5; i++) await js.publish(q.subjects[0]!, `{"i":${i}}`)
    expect((await Effect.runPromise(provisionQueue(jsm, { ...q, replicas: 3 }))).stream).toBe("updated")
    const info = await waitFor("3 replicas in sync", async () => {
      const i = await jsm.streams.info(q.stream)
      return i.config.num_replicas === 3 && (i.cluster?.replicas ?? []).filter((r) => r.current).length === 2 ? i : undefined
    }, 30_000, 250)
    expect(info.state.messages).toBe(5)
    expect((await Effect.runPromise(provisionQueue(jsm, { ...q, replicas: 3 }))).stream).toBe("unchanged")

    // jetscale's own streams and buckets: jetstream.replicas 1, then 3, in place
    const own = ["JETSCALE_DLQ", "JETSCALE_ADVISORIES", "KV_jetscale_errors", "JETSCALE_LOGS"]
    for (const replicas of [1, 3]) {
      await Effect.runPromise(provisionDeadLettering(jsm, [q], { maxBytes: defaultDlqMaxBytes, replicas }))
      await Effect.runPromise(provisionLogs(jsm, Duration.hours(1), defaultLogsMaxBytes, replicas))
      for (const name of own) expect([name, (await jsm.streams.info(name)).config.num_replicas]).toEqual([name, replicas])
    }
  }, 60_000)

  it("loses no job while the node leading the queue's stream is SIGKILLed and restarted", async () => {
    const queue = uniqueName("ha")
    const stream = streamName(queue)
    const dir = await mkdtemp(join(tmpdir(), "jetscale-ledger-"))
    const ledger = join(dir, "ledger.txt")
    // A user's worker, unbundled: it writes each job's id to the ledger, then the SDK acks it.
    const worker = join(dir, "worker.mjs")
    await writeFile(worker, [
      `import { appendFileSync } from "node:fs"`,
      `import { runWorker } from ${JSON.stringify(resolve("dist/worker.js"))}`,
      `runWorker({ handler: async (job) => { await new Promise((r) => setTimeout(r, 20)); appendFileSync(${JSON.stringify(ledger)}, job.id + "\\n") } })`
    ].join("\n"))
    const path = await writeConfig([
      "nats:",
      "  url:",
      ...cluster.nodes.map((n) => `    - ${n.url}`),
      "runtime: { driver: process }",
      "scaler: { interval: 500ms }",
      "jetstream: { replicas: 3 }",
      "queues:",
      `  ${queue}:`,
      `    command: ["node", ${JSON.stringify(worker)}]`,
      "    replicas: 3",
      "    minReplicas: 1",
      "    maxReplicas: 2",
      "    concurrency: 4",
      "    ackWait: 5s",
      "    idleTimeout: 60s"
    ].join("\n"))
    const scaler = scalers.up(path)
    await scaler.waitForOutput("scaler up", 60_000)
    const info = await jsm.streams.info(stream)
    expect(info.config.num_replicas).toBe(3)
    expect((await jsm.streams.info(dlqStream)).config.num_replicas).toBe(3)

    // A producer that retries a failed publish with the same Nats-Msg-Id (no duplicate stored).
    const js = jetstream(nc)
    const total = 300
    const published: Array<string> = []
    let publishRetries = 0
    const publishAll = (async () => {
      for (let i = 0; i < total; i++) {
        const id = `job-${i}`
        for (let attempt = 0; ; attempt++) {
          try {
            await js.publish(`jobs.${queue}`, JSON.stringify({ id }), { msgID: id, timeout: 2000 })
            break
          } catch (e) {
            if (attempt >= 60) throw e
            publishRetries++
            await sleep(250)
          }
        }
        published.push(id)
        await sleep(15)
      }
    })()

    await waitFor("100 jobs published", () => published.length >= 100, 60_000, 50)
    const leader = (await jsm.streams.info(stream)).cluster!.leader!
    const killedAt = Date.now()
    await cluster.node(leader).kill()
    await waitFor("a new leader of the queue's stream", async () => {
      const l = await jsm.streams.info(stream).then((i) => i.cluster?.leader, () => undefined)
      return l !== undefined && l !== leader ? l : undefined
    }, 30_000, 200)
    const failoverMs = Date.now() - killedAt
    await sleep(1000)
    await cluster.node(leader).restart()

    await publishAll
    const lines = () => existsSync(ledger) ? readFileSync(ledger, "utf8").split("\n").filter((l) => l !== "") : []
    await waitFor("every published job in the ledger", () => new Set(lines()).size >= total, 90_000, 250)
    const seen = new Set(lines())
    const lost = published.filter((id) => !seen.has(id))
    const duplicates = lines().length - seen.size
    console.log(`cluster: stream leader ${leader} SIGKILLed; new leader after ${failoverMs} ms; ${total} jobs, lost ${lost.length}, duplicated ${duplicates}, publish retries ${publishRetries}`)
    expect(lost).toEqual([])
    expect(published).toHaveLength(total)
    // the queue drained, and the scaler carried on through the loss of a node
    await waitFor("the stream empty", async () => (await jsm.streams.info(stream)).state.messages === 0, 30_000, 250)
    expect(scaler.output()).not.toMatch(/died|unexpected exit/)
    expect(await scaler.stop("SIGTERM")).toBe(0)
  }, 120_000)
})
