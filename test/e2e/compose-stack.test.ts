// Smoke test of the compose stack, as the README runs it: `./stack up` as typed (docker-compose, images
// built offline, Jaeger and Prometheus left out with one line: no registry), a job published from outside
// through the nats-box service, a worker container started by the containerised scaler through the
// mounted Docker socket on the compose network, the job done, the DLQ read with `./stack jetscale`,
// the worker gone after the idle timeout, and `./stack down -v` leaving nothing behind.
import { execFile } from "node:child_process"
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { jetstreamManager } from "@nats-io/jetstream"
import type { NatsConnection } from "@nats-io/transport-node"
import { build } from "esbuild"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { docker } from "../support/docker.ts"
import { connectAs } from "../support/nats-server.ts"
import { runShell, startShell } from "../support/shell.ts"
import { waitFor } from "../support/wait.ts"

const run = promisify(execFile)
const project = `jetscale-smoke-${process.pid}`
let env: Record<string, string> = {}
let secrets: Record<string, string> = {}
let natsUrl = ""
const clients: Array<NatsConnection> = []

/** Runs a README command as written, with bash, in the repository. */
const readme = (command: string, timeoutMs = 120_000) => runShell(command, env, timeoutMs)
/** Runs a README command that goes on until stopped (a watch, a follow) until its output matches. */
const readmeUntil = async (command: string, pattern: RegExp) => {
  const shell = startShell(command, env)
  try {
    return await shell.waitForOutput(pattern)
  } finally {
    await shell.stop(0)
  }
}
const compose = (...args: Array<string>) =>
  run("docker-compose", ["-p", project, ...args], { env: { ...process.env, ...env }, timeout: 120_000, maxBuffer: 16 << 20 })

/** The command lines running in the scaler container (its image has no ps). */
const scalerProcesses = async () => (await compose("exec", "-T", "scaler", "node", "-e",
  `const fs = require("fs"); for (const p of fs.readdirSync("/proc")) if (/^\\d+$/.test(p)) try { console.log(fs.readFileSync("/proc/" + p + "/cmdline", "utf8").split("\\0").join(" ")) } catch {}`)).stdout

/** The stand-in nats CLI image for the nats-box service (natsio/nats-box can't be pulled here). */
const buildNatsBoxStandIn = async (nodeImage: string) => {
  const dir = await mkdtemp(join(tmpdir(), "jetscale-natsbox-"))
  try {
    await build({
      entryPoints: ["test/support/nats-box/nats.ts"], bundle: true, platform: "node", format: "cjs", target: "node24",
      outfile: join(dir, "nats"), banner: { js: "#!/usr/local/bin/node" }, logLevel: "error"
    })
    await chmod(join(dir, "nats"), 0o755)
    await writeFile(join(dir, "Dockerfile"), `FROM ${nodeImage}\nCOPY nats /usr/local/bin/nats\nUSER 1000:1000\n`)
    await run("docker", ["build", "-q", "-t", "jetscale/nats-box-standin:ci", dir], { env: { ...process.env, DOCKER_BUILDKIT: "0" } })
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  return "jetscale/nats-box-standin:ci"
}

const connectAsScaler = async () => {
  const nc = await connectAs(natsUrl, "scaler", secrets)
  clients.push(nc)
  return nc
}

const managedIds = async () =>
  (await docker.listContainers({ all: true, filters: { label: ["io.jetscale.managed=true", "io.jetscale.queue=demo"] } }))
    .filter((c) => c.Names.some((n) => n.startsWith("/jetscale-demo-"))).map((c) => c.Id)

beforeAll(async () => {
  natsUrl = "nats://127.0.0.1:4222" // the README's ports
  env = {
    // README commands run as written: `docker compose` finds this project through COMPOSE_PROJECT_NAME
    COMPOSE_PROJECT_NAME: project,
    JETSCALE_STACK_PROJECT: project,
    JETSCALE_NETWORK: project,
    OTEL_SDK_DISABLED: "true"
  }
  env.JETSCALE_NATS_BOX_IMAGE = await buildNatsBoxStandIn((await run("bash", ["scripts/build-images.sh", "--print-base"])).stdout.trim())
}, 120_000)

afterAll(async () => {
  for (const nc of clients) await nc.close().catch(() => undefined)
  await readme("./stack down -v", 240_000).catch((e: unknown) => console.error(`./stack down -v failed: ${String(e)}`))
}, 180_000)

describe("compose stack (docker-compose, offline images)", () => {
  it("compose.yaml validates, and refuses to start without the passwords it needs", async () => {
    const withSecrets = { ...process.env, ...env, JETSCALE_SCALER_PASSWORD: "a", JETSCALE_WORKER_PASSWORD: "b", JETSCALE_PUBLISHER_PASSWORD: "c", JETSCALE_SYS_PASSWORD: "d", JETSCALE_ADMIN_TOKEN: "e" }
    const cwd = await mkdtemp(join(tmpdir(), "jetscale-compose-"))
    await writeFile(join(cwd, "compose.yaml"), await readFile("compose.yaml", "utf8"))
    try {
      for (const profile of ["observability", "tools", "build", "ha"]) {
        await run("docker-compose", ["--profile", profile, "config", "-q"], { cwd, env: withSecrets })
      }
      const missing = await run("docker-compose", ["config", "-q"], { cwd, env: { ...withSecrets, JETSCALE_WORKER_PASSWORD: "" } }).then(() => "", (e: { stderr: string }) => e.stderr)
      expect(missing).toMatch(/JETSCALE_WORKER_PASSWORD.*run \.\/stack up once/)
    } finally {
      await rm(cwd, { recursive: true, force: true })
    }
  })

  it("the README's stack commands, as written: up, publish, watch, metrics, overrides, logs, DLQ, down", async () => {
    const first = await readme("./stack up", 300_000)
    expect(first.stderr).toContain("stack: up: NATS on 127.0.0.1:4222")
    if ((await compose("--profile", "observability", "ps", "-q", "jaeger", "prometheus")).stdout.trim() === "") {
      // no registry: the optional services are left out, saying what that loses, and nothing fails
      expect(first.stderr).toMatch(/stack: Jaeger and Prometheus left out \(no registry serves .*\): you lose the trace UI/)
    }
    // Again: the images .env names (built offline) are used, the registry is not tried again.
    const again = await readme("./stack up", 300_000)
    expect(again.stderr).not.toContain("can't be pulled")
    expect(again.stderr).not.toContain("could not be pulled")
    for (const line of (await readFile(".env", "utf8")).split("\n")) {
      const m = /^(\w+)=(.*)$/.exec(line)
      if (m) secrets[m[1]!] = m[2]!
    }

    // the scaler: in its container, hardened, with only the socket and its config mounted
    const scalerId = (await compose("ps", "-q", "scaler")).stdout.trim()
    const scaler = await docker.getContainer(scalerId).inspect()
    expect(scaler.State.Health?.Status).toBe("healthy")
    expect(scaler.HostConfig.ReadonlyRootfs).toBe(true)
    expect(scaler.HostConfig.CapDrop).toEqual(["ALL"])
    expect(scaler.HostConfig.SecurityOpt).toContain("no-new-privileges:true")
    expect(scaler.Mounts.map((m) => [m.Destination, m.RW]).sort()).toEqual([["/etc/jetscale/project", false], ["/var/run/docker.sock", true]])

    // a job from nats-box (the publish-only user) wakes the queue: a worker on the compose network
    expect((await readme(`./stack nats pub jobs.demo '{"sleepMs":200}'`)).stdout).toContain(`Published 15 bytes to "jobs.demo"`)
    const [id] = await waitFor("a demo worker container", async () => { const ids = await managedIds(); return ids.length > 0 ? ids : undefined }, 60_000, 250)
    const worker = await docker.getContainer(id!).inspect()
    expect(Object.keys(worker.NetworkSettings.Networks)).toEqual([project])
    expect(worker.HostConfig.ReadonlyRootfs).toBe(true)
    expect(worker.HostConfig.CapDrop).toEqual(["ALL"])
    expect(worker.Config.Env).toContain("NATS_URL=nats://nats:4222")
    expect(worker.Config.Env).toContain("NATS_USER=worker-demo")
    expect(worker.Config.Env.join("\n")).not.toContain(secrets.JETSCALE_SCALER_PASSWORD)
    expect((await readme("docker ps --filter label=io.jetscale.managed=true")).stdout).toContain(worker.Name.slice(1))

    const jsm = await jetstreamManager(await connectAsScaler())
    await waitFor("the job acked", async () => {
      const c = await jsm.consumers.info("JETSCALE_DEMO", "workers")
      return c.ack_floor.stream_seq >= 1 && c.num_pending === 0 && c.num_ack_pending === 0
    }, 60_000, 250)

    // watching it
    expect(await readmeUntil("./stack jetscale status --watch", /demo\s+0\s+0\s+1\/1/)).toContain("RUNNING/DESIRED")
    await waitFor("no status --watch left in the scaler container", async () => !(await scalerProcesses()).includes("status --watch"), 15_000, 250)
    expect((await readme("./stack jetscale logs demo --since 10m")).stdout).toMatch(/demo\/\w+ stdout\| .*started: queue demo/)
    expect((await readme("./stack compose logs scaler")).stdout).toContain("scale demo 0 -> 1")
    expect((await readme(`./stack jetscale enqueue demo '{"sleepMs":200}' --count 100`)).stdout).toContain("enqueued 100 job(s) on jobs.demo")
    expect((await readme("curl -s 127.0.0.1:9464/metrics | grep jetscale_")).stdout).toContain(`jetscale_scale_events_total{queue="demo",direction="up"}`)
    expect((await readme("./stack jetscale scale demo 3 --for 10m")).stdout).toContain("queue demo: pinned to 3 replica(s)")
    expect((await readme("./stack jetscale scale demo auto")).stdout).toContain("queue demo: override ended")
    expect(await readmeUntil("./stack jetscale logs demo -f", /demo\/\w+ stdout\|/)).toBeTruthy()
    await waitFor("no logs -f left in the scaler container", async () => !(await scalerProcesses()).includes("logs demo -f"), 15_000, 250)
    await waitFor("the burst done", async () => (await jsm.streams.info("JETSCALE_DEMO")).state.messages === 0, 90_000, 500)

    // without the nats-box image: ./stack nats pub goes through jetscale pub, as the publisher user
    const offline = await runShell(`./stack nats pub jobs.demo '{"sleepMs":1}'`, { ...env, JETSCALE_NATS_BOX_IMAGE: "jetscale/no-such-image:none" })
    expect(offline.stderr).toContain("can't be had here: publishing with jetscale pub as the publisher user")
    expect(offline.stdout).toContain("published 1 message(s) to jobs.demo (queue demo, stream JETSCALE_DEMO")

    // the dead-letter queue
    await readme(`./stack nats pub jobs.demo '{"fail":"permanent"}'`)
    await waitFor("a dead letter", async () => (await jsm.streams.info("JETSCALE_DLQ")).state.messages === 1, 60_000, 250)
    expect((await readme("./stack jetscale dlq list")).stdout).toMatch(/1\s+demo\s+rejected\s+1/)
    expect((await readme("./stack jetscale dlq show 1")).stdout).toContain("Jetscale-Reason: rejected")
    expect((await readme("./stack jetscale dlq replay demo --seq 1")).stdout).toContain("replayed")
    await waitFor("the replayed job rejected again", async () => (await jsm.streams.info("JETSCALE_DLQ")).state.messages === 1 &&
      (await jsm.streams.info("JETSCALE_DLQ")).state.first_seq === 2, 60_000, 250)
    expect((await readme("./stack jetscale dlq purge demo --all")).stdout).toContain("purged")
    expect((await jsm.streams.info("JETSCALE_DLQ")).state.messages).toBe(0)

    // an edited jetscale.yaml: the running scaler applies it live (it watches the file), no restart;
    // the next ./stack up sends it SIGHUP and prints its reload line
    const original = await readFile("jetscale.yaml", "utf8")
    try {
      await writeFile("jetscale.yaml", original.replace(/^(    maxReplicas:) 5$/m, "$1 6"))
      await waitFor("the consumer at concurrency 4 x maxReplicas 6", async () => (await jsm.consumers.info("JETSCALE_DEMO", "workers")).config.max_ack_pending === 24, 60_000, 500)
      expect((await docker.getContainer(scalerId).inspect()).State.StartedAt).toBe(scaler.State.StartedAt)
      const applied = await readme("./stack up", 300_000)
      expect(applied.stderr).toMatch(/jetscale\.yaml applied by the running scaler: (no change|changed queue demo \(maxReplicas\))/)
      expect((await docker.getContainer(scalerId).inspect()).State.StartedAt).toBe(scaler.State.StartedAt)
    } finally {
      await writeFile("jetscale.yaml", original)
    }
    await waitFor("the consumer back at maxReplicas 5", async () => (await jsm.consumers.info("JETSCALE_DEMO", "workers")).config.max_ack_pending === 20, 60_000, 500)

    // high availability: the `ha` profile adds a standby scaler; the leader's container killed, the
    // standby takes over within two leases (10s) and the next job still runs
    await readme(`JETSCALE_STACK_PROFILES="observability ha" ./stack up`, 300_000)
    const readyOf = async (port: number) => {
      const res = await fetch(`http://127.0.0.1:${port}/readyz`, { headers: { authorization: `Bearer ${secrets.JETSCALE_ADMIN_TOKEN}` } })
      return (await res.json()) as { scaler?: { role: string; leader: string | null } }
    }
    await waitFor("the standby ready on :9465", async () => (await readyOf(9465).catch(() => undefined))?.scaler?.role === "standby", 90_000, 500)
    expect((await readyOf(9464)).scaler?.role).toBe("leader")
    const acked = (await jsm.consumers.info("JETSCALE_DEMO", "workers")).ack_floor.stream_seq
    const killedAt = Date.now()
    await docker.getContainer(scalerId).kill()
    await waitFor("the standby leading", async () => (await readyOf(9465).catch(() => undefined))?.scaler?.role === "leader", 60_000, 250)
    console.log(`compose ha: the leader's container SIGKILLed -> the standby leads after ${Date.now() - killedAt} ms (scaler.lease 10s)`)
    await readme(`./stack nats pub jobs.demo '{"sleepMs":200}'`)
    await waitFor("the job run under the new leader", async () => {
      const c = await jsm.consumers.info("JETSCALE_DEMO", "workers")
      return c.ack_floor.stream_seq > acked && c.num_pending === 0 && c.num_ack_pending === 0
    }, 60_000, 250)

    // idleTimeout 30s + the scale-down steps: every worker drained and removed
    await waitFor("the workers gone after the idle timeout", async () => (await managedIds()).length === 0, 120_000, 1000)

    await readme("./stack down -v", 240_000)
    expect((await compose("ps", "-q")).stdout.trim()).toBe("")
    expect((await docker.listNetworks({ filters: { name: [project] } })).filter((n) => n.Name === project)).toEqual([])
  }, 600_000)
})
