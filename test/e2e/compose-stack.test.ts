// Smoke test of the compose stack, as the README runs it: `./stack up` (docker-compose, images
// built offline, Jaeger and Prometheus left out by their profile), a job published from outside
// through the nats-box service, a worker container started by the containerised scaler through the
// mounted Docker socket on the compose network, the job done, the DLQ read with `./stack jetscale`,
// the worker gone after the idle timeout, and `./stack down -v` leaving nothing behind.
import { execFile } from "node:child_process"
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { build } from "esbuild"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connectOptions } from "../../src/nats/credentials.ts"
import { docker } from "../support/docker.ts"
import { waitFor } from "../support/wait.ts"

const run = promisify(execFile)
const project = `jetscale-smoke-${process.pid}`
const freePort = () => new Promise<number>((resolve, reject) => {
  const s = createServer()
  s.once("error", reject)
  s.listen(0, "127.0.0.1", () => {
    const port = (s.address() as { port: number }).port
    s.close(() => resolve(port))
  })
})

let env: Record<string, string> = {}
let secrets: Record<string, string> = {}
let natsUrl = ""
const clients: Array<NatsConnection> = []

const stack = (...args: Array<string>) =>
  run("./stack", args, { env: { ...process.env, ...env }, timeout: 240_000, maxBuffer: 16 << 20 })
const compose = (...args: Array<string>) =>
  run("docker-compose", ["-p", project, ...args], { env: { ...process.env, ...env }, timeout: 120_000, maxBuffer: 16 << 20 })

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

const connectAs = async (user: "scaler" | "publisher") => {
  const nc = await connect(connectOptions({ url: natsUrl, credentials: { user, password: secrets[`JETSCALE_${user.toUpperCase()}_PASSWORD`]! } }))
  clients.push(nc)
  return nc
}

const managedIds = async () =>
  (await docker.listContainers({ all: true, filters: { label: ["io.jetscale.managed=true", "io.jetscale.queue=demo"] } }))
    .filter((c) => c.Names.some((n) => n.startsWith("/jetscale-demo-"))).map((c) => c.Id)

beforeAll(async () => {
  const [nats, monitor, admin] = [await freePort(), await freePort(), await freePort()]
  natsUrl = `nats://127.0.0.1:${nats}`
  env = {
    JETSCALE_STACK_PROJECT: project,
    JETSCALE_NETWORK: project,
    JETSCALE_STACK_PROFILES: "", // Jaeger and Prometheus: no registry to pull them from
    JETSCALE_NATS_PORT: String(nats),
    JETSCALE_NATS_MONITOR_PORT: String(monitor),
    JETSCALE_ADMIN_PORT: String(admin),
    OTEL_SDK_DISABLED: "true"
  }
  env.JETSCALE_NATS_BOX_IMAGE = await buildNatsBoxStandIn((await run("bash", ["scripts/build-images.sh", "--print-base"])).stdout.trim())
}, 120_000)

afterAll(async () => {
  for (const nc of clients) await nc.close().catch(() => undefined)
  await stack("down", "-v").catch((e: unknown) => console.error(`./stack down -v failed: ${String(e)}`))
}, 180_000)

describe("compose stack (docker-compose, offline images)", () => {
  it("compose.yaml validates, and refuses to start without the passwords it needs", async () => {
    const withSecrets = { ...process.env, ...env, JETSCALE_SCALER_PASSWORD: "a", JETSCALE_WORKER_PASSWORD: "b", JETSCALE_PUBLISHER_PASSWORD: "c", JETSCALE_SYS_PASSWORD: "d", JETSCALE_ADMIN_TOKEN: "e" }
    const cwd = await mkdtemp(join(tmpdir(), "jetscale-compose-"))
    await writeFile(join(cwd, "compose.yaml"), await readFile("compose.yaml", "utf8"))
    try {
      for (const profile of ["observability", "tools", "build"]) {
        await run("docker-compose", ["--profile", profile, "config", "-q"], { cwd, env: withSecrets })
      }
      const missing = await run("docker-compose", ["config", "-q"], { cwd, env: { ...withSecrets, JETSCALE_WORKER_PASSWORD: "" } }).then(() => "", (e: { stderr: string }) => e.stderr)
      expect(missing).toMatch(/JETSCALE_WORKER_PASSWORD.*run \.\/stack up once/)
    } finally {
      await rm(cwd, { recursive: true, force: true })
    }
  })

  it("./stack up, a job from nats-box runs in a worker the scaler starts on the compose network, then ./stack down", async () => {
    await stack("up")
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
    expect(scaler.Mounts.map((m) => m.Destination).sort()).toEqual(["/etc/jetscale/jetscale.yaml", "/var/run/docker.sock"])

    // the README's command, unchanged: the publish-only user on the compose network
    const pub = await compose("run", "--rm", "-T", "nats-box", "nats", "pub", "jobs.demo", `{"sleepMs":200}`)
    expect(pub.stdout).toContain(`Published 15 bytes to "jobs.demo"`)

    const [id] = await waitFor("a demo worker container", async () => { const ids = await managedIds(); return ids.length > 0 ? ids : undefined }, 60_000, 250)
    const worker = await docker.getContainer(id!).inspect()
    expect(Object.keys(worker.NetworkSettings.Networks)).toEqual([project])
    expect(worker.HostConfig.ReadonlyRootfs).toBe(true)
    expect(worker.HostConfig.CapDrop).toEqual(["ALL"])
    expect(worker.Config.Env).toContain("NATS_URL=nats://nats:4222")
    expect(worker.Config.Env).toContain("NATS_USER=worker")
    expect(worker.Config.Env.join("\n")).not.toContain(secrets.JETSCALE_SCALER_PASSWORD)

    const jsm = await jetstreamManager(await connectAs("scaler"))
    await waitFor("the job acked", async () => {
      const c = await jsm.consumers.info("JETSCALE_DEMO", "workers")
      return c.ack_floor.stream_seq >= 1 && c.num_pending === 0 && c.num_ack_pending === 0
    }, 60_000, 250)

    // a job that can never succeed ends in the DLQ, read through the scaler's CLI
    await jetstream(await connectAs("publisher")).publish("jobs.demo", JSON.stringify({ fail: "permanent" }))
    const dlq = await waitFor("a dead letter", async () => {
      const r = await stack("jetscale", "dlq", "list", "--json")
      const entries = (JSON.parse(r.stdout) as { deadLetters: Array<{ reason: string; queue: string }> }).deadLetters
      return entries.length > 0 ? entries : undefined
    }, 60_000, 1000)
    expect(dlq).toMatchObject([{ queue: "demo", reason: "rejected" }])
    const status = JSON.parse((await stack("jetscale", "status", "--json")).stdout) as { queues: Array<{ name: string; desired: number | null }> }
    expect(status.queues[0]).toMatchObject({ name: "demo" })
    expect(status.queues[0]!.desired).not.toBeNull()

    // idleTimeout 30s + the scale-down delay: the worker is drained and removed
    await waitFor("the worker gone after the idle timeout", async () => (await managedIds()).length === 0, 90_000, 1000)

    await stack("down", "-v")
    expect((await compose("ps", "-q")).stdout.trim()).toBe("")
    expect((await docker.listNetworks({ filters: { name: [project] } })).filter((n) => n.Name === project)).toEqual([])
  }, 420_000)
})
