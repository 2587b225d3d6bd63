// One conformance suite, run against every runtime driver: start, list, logs, stop with drain,
// a scale-in drain, a worker that dies by itself; for docker and swarm also adoption by a new driver
// and label safety. The swarm driver runs on a single-node swarm made for its block (see
// test/support/swarm.ts); its own features are in swarm-driver.test.ts.
import { jetstream } from "@nats-io/jetstream"
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Duration, Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { QueueConfig } from "../../src/config/model.ts"
import { readBacklog } from "../../src/jetstream/backlog.ts"
import { provisionQueue } from "../../src/jetstream/provision.ts"
import { makeDockerDriver } from "../../src/runtime/docker.ts"
import type { LogLine, RuntimeDriver } from "../../src/runtime/driver.ts"
import { makeProcessDriver } from "../../src/runtime/process.ts"
import { makeSwarmDriver } from "../../src/runtime/swarm.ts"
import { workerEnv } from "../../src/scaler/worker-env.ts"
import { docker, removeManaged } from "../support/docker.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { testQueue } from "../support/queue.ts"
import { managedServices, removeManagedServices } from "../support/swarm.ts"
import { useSwarm } from "../support/swarm-fixture.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()

const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runPromise(e)

const drivers: Record<"docker" | "process" | "swarm", (onLog: (l: LogLine) => void) => RuntimeDriver> = {
  docker: (onLog) => makeDockerDriver({ network: "host", onLog }),
  process: (onLog) => makeProcessDriver({ onLog }).driver,
  swarm: (onLog) => makeSwarmDriver({ network: "host", onLog }).driver
}

/** A workload with only part of jetscale's labels (never listed), per labelling driver. */
const strangers = {
  docker: async (queue: string) => {
    const c = await docker.createContainer({ Image: "jetscale/worker-demo:dev", Cmd: ["node", "-e", "setTimeout(() => {}, 60000)"], Labels: { [`io.jetscale.queue`]: queue } })
    await c.start()
    return { running: async () => (await c.inspect()).State.Running, remove: () => c.remove({ force: true }) }
  },
  swarm: async (queue: string) => {
    const s = await docker.createService({
      Name: `stranger-${queue}`.slice(0, 63), Labels: { [`io.jetscale.queue`]: queue },
      TaskTemplate: { ContainerSpec: { Image: "jetscale/worker-demo:dev", Args: ["node", "-e", "setTimeout(() => {}, 60000)"] }, RestartPolicy: { Condition: "none" } },
      Mode: { Replicated: { Replicas: 1 } }
    })
    return {
      running: async () => (await docker.listTasks({ filters: { service: [s.id] } })).some((t: { Status: { State: string } }) => ["pending", "assigned", "accepted", "preparing", "starting", "running"].includes(t.Status.State)),
      remove: () => docker.getService(s.id).remove()
    }
  }
}

describe.each(["docker", "process", "swarm"] as const)("%s driver conformance", (name) => {
  if (name === "swarm") useSwarm()
  const lines: Array<LogLine> = []
  let driver: RuntimeDriver
  let q: QueueConfig
  beforeAll(async () => {
    driver = drivers[name]((l) => void lines.push(l))
    q = testQueue(`rt-${name}`, {
      image: "jetscale/worker-demo:dev",
      command: ["node", "services/workers/demo/dist/main.js"],
      concurrency: 2,
      stopTimeout: Duration.seconds(10),
      ackWait: Duration.seconds(2),
      maxDeliver: 100,
      limits: { memoryBytes: 256 * 1024 * 1024, cpus: 0.5, pids: 256 }
    })
    await run(provisionQueue(nats.jsm, q))
  })
  afterAll(async () => {
    if (name === "docker") await removeManaged(q.name)
    if (name === "swarm") await removeManagedServices(q.name)
  })
  const start = (instance: string) => run(driver.start({ queue: q, instance, env: workerEnv(q, instance, { url: nats.server.url }) }))
  const listed = async (instance: string) => (await run(driver.list(q.name))).find((w) => w.instance === instance)

  it("starts a labelled worker that lists as running and whose output reaches the log sink", async () => {
    const w = await start("a1")
    expect(w).toMatchObject({ instance: "a1", queue: q.name, state: "running" })
    expect(await listed("a1")).toMatchObject({ state: "running", exitCode: null })
    await waitFor("the worker's start line", () => lines.some((l) => l.instance === "a1" && l.line.includes("started: queue")))
    expect(lines.find((l) => l.instance === "a1")?.queue).toBe(q.name)
  })

  if (name === "docker") {
    it("names, labels, environment and limits of a worker container follow the config", async () => {
      const c = await docker.getContainer(`jetscale-${q.name}-a1`).inspect()
      expect(c.Config.Labels).toMatchObject({ "io.jetscale.managed": "true", "io.jetscale.queue": q.name, "io.jetscale.instance": "a1" })
      expect(c.Config.Env).toEqual(expect.arrayContaining([
        `NATS_URL=${nats.server.url}`, `JETSCALE_QUEUE=${q.name}`, `JETSCALE_STREAM=${q.stream}`, "JETSCALE_CONSUMER=workers",
        "JETSCALE_CONCURRENCY=2", "JETSCALE_INSTANCE=a1"
      ]))
      expect(c.HostConfig).toMatchObject({ NetworkMode: "host", Memory: 256 * 1024 * 1024, NanoCpus: 500_000_000, PidsLimit: 256, Init: true })
      expect((c.Config as { StopTimeout?: number }).StopTimeout).toBe(12)
    })

    it("runs workers hardened: non-root, read-only root with a tmpfs /tmp, no new privileges, no capabilities, no mounts", async () => {
      const c = await docker.getContainer(`jetscale-${q.name}-a1`).inspect()
      expect(c.HostConfig).toMatchObject({ ReadonlyRootfs: true, Privileged: false, CapDrop: ["ALL"], SecurityOpt: ["no-new-privileges"] })
      expect(Object.keys(c.HostConfig.Tmpfs ?? {})).toEqual(["/tmp"])
      expect(c.Mounts).toEqual([])
      expect(c.Config.User).toMatch(/^[1-9]\d*(:\d+)?$/)
    })

    it("an image that would run as root runs its worker as nobody", async () => {
      const rootImage = testQueue("rt-root", { image: "jetscale/node-base:24", command: ["node", "-e", "console.log('uid=' + process.getuid())"] })
      const w = await run(driver.start({ queue: rootImage, instance: "r1", env: {} }))
      await waitFor("the uid line", () => lines.some((l) => l.instance === "r1" && l.line === "uid=65534"))
      expect((await docker.getContainer(w.id).inspect()).Config.User).toBe("65534:65534")
      await waitFor("the worker to exit", async () => (await run(driver.list(rootImage.name))).find((x) => x.instance === "r1")?.state === "exited")
      await run(driver.remove(w))
    })

    it("mounts only what the queue configures: read-only unless :rw", async () => {
      const dir = await mkdtemp(join(tmpdir(), "jetscale-mount-"))
      await writeFile(join(dir, "in.txt"), "hello from the host")
      await chmod(dir, 0o755)
      const reader = testQueue("rt-mount", {
        image: "jetscale/node-base:24",
        command: ["node", "-e", "const fs = require('fs'); console.log('read=' + fs.readFileSync('/data/in.txt', 'utf8')); try { fs.writeFileSync('/data/out.txt', 'x'); console.log('write=ok') } catch (e) { console.log('write=' + e.code) }"],
        mounts: [{ source: dir, target: "/data", readOnly: true }]
      })
      const w = await run(driver.start({ queue: reader, instance: "m1", env: {} }))
      await waitFor("the write attempt", () => lines.some((l) => l.instance === "m1" && l.line.startsWith("write=")))
      expect(lines.filter((l) => l.instance === "m1").map((l) => l.line)).toEqual(["read=hello from the host", "write=EROFS"])
      const c = await docker.getContainer(w.id).inspect()
      expect(c.Mounts).toMatchObject([{ Type: "bind", Source: dir, Destination: "/data", RW: false }])
      await waitFor("the worker to exit", async () => (await run(driver.list(reader.name))).find((x) => x.instance === "m1")?.state === "exited")
      await run(driver.remove(w))
      await rm(dir, { recursive: true, force: true })
    })
  }

  it("stop drains: the job in flight finishes and is acked before the worker goes away", async () => {
    await jetstream(nats.nc).publish(q.subjects[0]!, JSON.stringify({ sleepMs: 1500, id: "in-flight" }))
    await waitFor("the job in flight", async () => (await run(readBacklog(nats.jsm, q))).ackPending === 1)
    await run(driver.stop((await listed("a1"))!, q.stopTimeout))
    expect(await listed("a1")).toBeUndefined()
    expect((await nats.jsm.streams.info(q.stream)).state.messages).toBe(0)
    expect(lines.some((l) => l.instance === "a1" && l.line.includes("stopped: 1 acked"))).toBe(true)
  })

  it("drain (scale-in): a job longer than stopTimeout finishes and is acked; the worker exits 0 by itself and lists as exited until removed", async () => {
    const short = { ...q, stopTimeout: Duration.millis(200) }
    const w = await run(driver.start({ queue: short, instance: "s1", env: workerEnv(short, "s1", { url: nats.server.url }) }))
    await waitFor("the worker's start line", () => lines.some((l) => l.instance === "s1" && l.line.includes("started: queue")))
    await jetstream(nats.nc).publish(q.subjects[0]!, JSON.stringify({ sleepMs: 1500, id: "drained" }))
    await waitFor("the job in flight", async () => (await run(readBacklog(nats.jsm, q))).ackPending === 1)
    await run(driver.drain(w))
    expect((await listed("s1"))?.state).toBe("running")
    const exited = await waitFor("the worker to exit by itself", async () => {
      const x = await listed("s1")
      return x?.state === "exited" ? x : undefined
    }, 15_000)
    expect(exited.exitCode).toBe(0)
    expect((await nats.jsm.streams.info(q.stream)).state.messages).toBe(0)
    expect((await nats.jsm.consumers.info(q.stream, q.consumer)).num_redelivered).toBe(0)
    await waitFor("its last line", () => lines.some((l) => l.instance === "s1" && l.line.includes("stopped: 1 acked")))
    expect(lines.some((l) => l.instance === "s1" && l.line.includes("handing back"))).toBe(false)
    await run(driver.remove(exited))
    expect(await listed("s1")).toBeUndefined()
  })

  it("reports a worker that died mid-job as exited with its code, and removes it", async () => {
    await start("c1")
    await jetstream(nats.nc).publish(q.subjects[0]!, JSON.stringify({ crash: true }))
    const dead = await waitFor("the worker to die", async () => {
      const w = await listed("c1")
      return w?.state === "exited" ? w : undefined
    })
    expect(dead.exitCode).toBe(137)
    await run(driver.remove(dead))
    expect(await listed("c1")).toBeUndefined()
    await nats.jsm.streams.purge(q.stream)
  })

  if (name === "docker" || name === "swarm") {
    it("a new driver instance adopts running workers and never lists what lacks jetscale's labels", async () => {
      await start("d1")
      const stranger = await strangers[name](q.name)
      try {
        const fresh = drivers[name](() => {})
        const seen = await run(fresh.list(q.name))
        expect(seen.map((w) => w.instance)).toEqual(["d1"])
        await run(fresh.stop(seen[0]!, q.stopTimeout))
        expect(await run(driver.list(q.name))).toEqual([])
        if (name === "swarm") expect((await managedServices(q.name)).map((s) => s.name)).toEqual([])
        expect(await stranger.running()).toBe(true)
      } finally {
        await stranger.remove()
      }
    })
  }
})
