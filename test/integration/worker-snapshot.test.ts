// Workers started from a V8 startup snapshot (src/worker/snapshot.ts, the demo image's way to start):
// the snapshot of the demo worker is built here with this node, two replicas are started from it by
// a scaler (process driver), and every job is processed once: replicas restored from one heap draw
// their own NATS inbox prefix (a shared one would deliver each pull's jobs to both).
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { jetstream } from "@nats-io/jetstream"
import { afterAll, describe, expect, it } from "vitest"
import { streamName } from "../../src/jetstream/names.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { uniqueName } from "../support/queue.ts"
import { useScalers } from "../support/scaler-fixture.ts"
import { writeConfig } from "../support/scaler-process.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const scalers = useScalers()
const dir = mkdtempSync(join(tmpdir(), "jetscale-snapshot-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe("a worker started from a startup snapshot", () => {
  it("builds from the demo's snapshot entry; two replicas of one snapshot process every job exactly once, dead-letter too", async () => {
    const blob = join(dir, "demo.blob")
    execFileSync(process.execPath, ["--snapshot-blob", blob, "--build-snapshot", "services/workers/demo/dist/snapshot.cjs"], { stdio: "pipe", timeout: 60_000 })
    const queue = uniqueName("snap")
    const config = await writeConfig(`
nats: { url: "${nats.server.url}" }
runtime: { driver: process }
scaler: { interval: 500ms }
queues:
  ${queue}:
    command: [node, --snapshot-blob, ${blob}]
    minReplicas: 2
    maxReplicas: 2
    concurrency: 4
`)
    const scaler = scalers.up(config)
    await scaler.waitForOutput("scaler up")
    await waitFor("2 replicas started", async () => scaler.output().split("\n").filter((l) => l.includes(`started: queue ${queue}`)).length === 2, 30_000)

    const js = jetstream(nats.nc)
    const jobs = 100
    await Promise.all(Array.from({ length: jobs }, (_, i) => js.publish(`jobs.${queue}`, JSON.stringify({ id: `j${i}`, sleepMs: 20 }))))
    await js.publish(`jobs.${queue}`, JSON.stringify({ id: "bad", fail: "permanent" }))
    const stream = streamName(queue)
    await waitFor("the queue emptied", async () => (await nats.jsm.streams.info(stream)).state.messages === 0, 30_000)

    const consumer = await nats.jsm.consumers.info(stream, "workers")
    expect(consumer.num_redelivered).toBe(0)
    expect(scaler.output()).toContain("job 101 dead-lettered (rejected)")
    // Each replica prints its acked count when it stops: together, every job once.
    await scaler.stop("SIGTERM")
    const acked = [...scaler.output().matchAll(/stopped: (\d+) acked/g)].map((m) => Number(m[1]))
    expect(acked).toHaveLength(2)
    expect(acked.every((n) => n > 0)).toBe(true)
    expect(acked.reduce((a, b) => a + b, 0)).toBe(jobs)
  })
})
