// The README's developer path (no compose), as written: `nats-server -js -a 127.0.0.1` on the default port,
// `npx jetscale up` with the repository's jetscale.yaml (docker driver, queue demo), a burst of
// 100 jobs with `npx jetscale enqueue`, `npx jetscale status`, and every job done.
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { afterAll, describe, expect, it } from "vitest"
import { removeManaged } from "../support/docker.ts"
import { runShell, startShell, type BackgroundShell } from "../support/shell.ts"
import { waitFor } from "../support/wait.ts"

const started: Array<BackgroundShell> = []
let dir = ""
let nc: NatsConnection | undefined

afterAll(async () => {
  await nc?.close()
  for (const shell of started.splice(0).reverse()) await shell.stop()
  await removeManaged("demo")
  if (dir) await rm(dir, { recursive: true, force: true })
}, 60_000)

describe("README: without compose", () => {
  it("nats-server -js -a 127.0.0.1, npx jetscale up, enqueue --count 100, status: every job done", async () => {
    dir = await mkdtemp(join(tmpdir(), "jetscale-devpath-"))
    const env = { TMPDIR: dir } // where `nats-server -js` keeps its store
    started.push(startShell("nats-server -js -a 127.0.0.1", env))
    nc = await waitFor("nats-server on 127.0.0.1:4222", () => connect({ servers: "nats://127.0.0.1:4222" }).catch(() => undefined), 20_000, 200)
    const scaler = startShell("npx jetscale up", env)
    started.push(scaler)
    await scaler.waitForOutput("scaler up")

    const enqueue = await runShell(`npx jetscale enqueue demo '{"sleepMs":200}' --count 100`, env)
    expect(enqueue.stdout).toContain("enqueued 100 job(s) on jobs.demo")
    const status = await runShell("npx jetscale status", env)
    expect(status.stdout).toMatch(/demo\s+JETSCALE_DEMO/)

    const jsm = await jetstreamManager(nc)
    await waitFor("all 100 jobs done", async () => (await jsm.streams.info("JETSCALE_DEMO")).state.messages === 0, 120_000, 500)
    expect(scaler.output()).toMatch(/scale demo 0 -> [1-5]/)
  }, 240_000)
})
