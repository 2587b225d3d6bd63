// The README's developer path (no compose), as written: `nats-server -js` on the default port,
// `npx jetscale up` with the repository's jetscale.yaml (docker driver, queue demo), a burst of
// 100 jobs with `npx jetscale enqueue`, `npx jetscale status`, and every job done.
import { execFile, spawn, type ChildProcess } from "node:child_process"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { afterAll, describe, expect, it } from "vitest"
import { removeManaged } from "../support/docker.ts"
import { waitFor } from "../support/wait.ts"

const run = promisify(execFile)
const started: Array<ChildProcess> = []
let dir = ""
let nc: NatsConnection | undefined

/** A README command that runs until stopped; its output so far, and a stop for its process group. */
const background = (command: string, env: Record<string, string>) => {
  const child = spawn("bash", ["-c", command], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true })
  started.push(child)
  let out = ""
  child.stdout.on("data", (d: Buffer) => (out += d))
  child.stderr.on("data", (d: Buffer) => (out += d))
  return { output: () => out }
}
const stopAll = async () => {
  for (const child of started.splice(0).reverse()) {
    if (child.exitCode !== null) continue
    const exited = new Promise((r) => child.once("exit", r))
    try { process.kill(-child.pid!, "SIGTERM") } catch { /* gone */ }
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))])
    try { process.kill(-child.pid!, "SIGKILL") } catch { /* gone */ }
  }
}

afterAll(async () => {
  await nc?.close()
  await stopAll()
  await removeManaged("demo")
  if (dir) await rm(dir, { recursive: true, force: true })
}, 60_000)

describe("README: without compose", () => {
  it("nats-server -js, npx jetscale up, enqueue --count 100, status: every job done", async () => {
    dir = await mkdtemp(join(tmpdir(), "jetscale-devpath-"))
    const env = { TMPDIR: dir } // where `nats-server -js` keeps its store
    background("nats-server -js", env)
    nc = await waitFor("nats-server on 127.0.0.1:4222", () => connect({ servers: "nats://127.0.0.1:4222" }).catch(() => undefined), 20_000, 200)
    const scaler = background("npx jetscale up", env)
    await waitFor("scaler up", () => scaler.output().includes("scaler up"), 60_000, 200)

    const enqueue = await run("bash", ["-c", `npx jetscale enqueue demo '{"sleepMs":200}' --count 100`], { env: { ...process.env, ...env } })
    expect(enqueue.stdout).toContain("enqueued 100 job(s) on jobs.demo")
    const status = await run("bash", ["-c", "npx jetscale status"], { env: { ...process.env, ...env } })
    expect(status.stdout).toMatch(/demo\s+JETSCALE_DEMO/)

    const jsm = await jetstreamManager(nc)
    await waitFor("all 100 jobs done", async () => (await jsm.streams.info("JETSCALE_DEMO")).state.messages === 0, 120_000, 500)
    expect(scaler.output()).toMatch(/scale demo 0 -> [1-5]/)
  }, 240_000)
})
