// Dead-lettering end to end: the scaler (`jetscale up`), worker containers, and the `jetscale dlq`
// commands, against a real nats-server and dockerd.
import { describe, expect, it } from "vitest"
import { listDeadLetters } from "../../src/dlq/read.ts"
import { streamName } from "../../src/jetstream/names.ts"
import { managedContainers } from "../support/docker.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { uniqueName } from "../support/queue.ts"
import { useScalers } from "../support/scaler-fixture.ts"
import { runCli, writeDockerConfig } from "../support/scaler-process.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const scalers = useScalers()

const setup = async (queueYaml: string) => {
  const queue = uniqueName("dl")
  scalers.cleanUpQueue(queue)
  const path = await writeDockerConfig(nats.server.url, `  ${queue}:
    image: jetscale/worker-demo:dev
    scaleDownDelay: 1s
    stopTimeout: 5s
${queueYaml.includes("idleTimeout") ? "" : "    idleTimeout: 2s\n"}${queueYaml}`)
  const up = () => scalers.up(path)
  const enqueue = (payload: object, count = 1) => runCli(["enqueue", queue, JSON.stringify(payload), "--count", String(count), "--config", path])
  const dlq = (...args: Array<string>) => runCli(["dlq", ...args, "--config", path])
  const dead = () => listDeadLetters(nats.jsm, queue)
  /** No job and no max-delivered leftover remains in the work queue. */
  const workQueueEmpty = async () => (await nats.jsm.streams.info(streamName(queue))).state.messages === 0
  return { queue, path, up, enqueue, dlq, dead, workQueueEmpty }
}

describe("dead-lettering end to end", () => {
  it("a job whose worker crashes on every attempt is dead-lettered as worker lost; the queue then scales to zero", async () => {
    const t = await setup("    maxDeliver: 2\n    ackWait: 2s\n")
    const scaler = t.up()
    await scaler.waitForOutput("scaler up")
    await t.enqueue({ crash: true, id: "doomed" })
    const [entry] = await waitFor("the DLQ entry", async () => (await t.dead()).length === 1 && t.dead(), 45_000)
    expect(entry).toMatchObject({ reason: "max_deliveries", deliveries: 2, error: "worker lost: no ack within ackWait" })
    await waitFor("zero containers", async () => (await managedContainers(t.queue)).length === 0, 30_000)
    expect(await t.workQueueEmpty()).toBe(true)
  })

  it("jobs that hit max deliveries while the scaler is down are dead-lettered when it is back, once each", async () => {
    const t = await setup("    maxDeliver: 2\n    backoff: [200ms]\n    idleTimeout: 30s\n")
    const first = t.up()
    await first.waitForOutput("scaler up")
    await t.enqueue({ sleepMs: 10, id: "warm-up" })
    await waitFor("a running worker", async () => (await managedContainers(t.queue)).some((c) => c.State === "running"))
    expect(await first.stop("SIGTERM")).toBe(0)
    // The worker keeps working without a scaler; its failures pile up as stored advisories.
    await t.enqueue({ fail: "always" }, 5)
    await waitFor("5 advisories stored", async () => (await nats.jsm.streams.info("JETSCALE_ADVISORIES")).state.messages >= 5, 20_000)
    expect(await t.dead()).toEqual([])
    const second = t.up()
    await second.waitForOutput("scaler up")
    await waitFor("5 DLQ entries", async () => (await t.dead()).length === 5, 20_000)
    await new Promise((r) => setTimeout(r, 1500))
    const entries = await t.dead()
    expect(entries).toHaveLength(5)
    expect(new Set(entries.map((e) => e.streamSeq)).size).toBe(5)
    expect(entries.every((e) => e.reason === "max_deliveries" && e.deliveries === 2 && e.error.includes("fail: always"))).toBe(true)
    expect(await t.workQueueEmpty()).toBe(true)
  })

  it("dlq list/show, replay (a fail-once job then succeeds) and purge", async () => {
    const t = await setup("    maxDeliver: 1\n")
    const scaler = t.up()
    await scaler.waitForOutput("scaler up")
    await t.enqueue({ fail: "once", id: "replay-me" }, 2)
    await t.enqueue({ fail: "always", id: "purge-me" }, 2)
    await waitFor("4 DLQ entries", async () => (await t.dead()).length === 4, 30_000)

    const listed = await t.dlq("list", t.queue, "--json")
    expect(listed.code).toBe(0)
    const rows = JSON.parse(listed.stdout).deadLetters as Array<{ dlqSeq: number; error: string; reason: string }>
    expect(rows).toHaveLength(4)
    const table = await t.dlq("list")
    expect(table.stdout).toMatch(/SEQ\s+QUEUE\s+REASON\s+DELIVERIES/)
    const once = rows.filter((r) => r.error.includes("fail: once"))
    const shown = await t.dlq("show", String(once[0]!.dlqSeq))
    expect(shown.stdout).toContain("Jetscale-Reason: max_deliveries")
    expect(shown.stdout).toContain(`"id": "replay-me"`)

    const replayed = await t.dlq("replay", t.queue, ...once.flatMap((r) => ["--seq", String(r.dlqSeq)]))
    expect(replayed.code).toBe(0)
    expect(replayed.stdout).toContain("2 dead letter(s) replayed")
    await waitFor("the replayed jobs to run", () => t.workQueueEmpty(), 20_000)
    await new Promise((r) => setTimeout(r, 1000))
    expect((await t.dead()).map((e) => e.error)).toEqual(Array(2).fill("Error: demo job purge-me failed (fail: always)"))
    expect(await t.dead()).toHaveLength(2)

    const wrong = await t.dlq("replay", t.queue, "--seq", "999999")
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toContain("no dead letter of queue")
    const purged = await t.dlq("purge", t.queue, "--all")
    expect(purged.stdout).toContain("purged 2 dead letter(s)")
    expect(await t.dead()).toEqual([])
    expect(await t.workQueueEmpty()).toBe(true)
  })
})
