// The swarm driver's own features, on a single-node swarm made for this file (the shared runtime
// conformance suite runs against it too): the service of a worker and its container, hardening,
// mounts, placement (a task no node takes stays pending and is told once), the docker driver
// leaving swarm tasks alone, the multi-node path (a worker on another node is stopped through Swarm)
// and `idle: suspend` (Swarm cannot pause: the replica drains instead).
import { jetstream } from "@nats-io/jetstream"
import { Duration, Effect, Logger } from "effect"
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import type { QueueConfig } from "../../src/config/model.ts"
import { readBacklog } from "../../src/jetstream/backlog.ts"
import { provisionQueue } from "../../src/jetstream/provision.ts"
import { makeDockerDriver } from "../../src/runtime/docker.ts"
import type { LogLine, RuntimeDriver, WorkerInfo } from "../../src/runtime/driver.ts"
import { makeSwarmDriver } from "../../src/runtime/swarm.ts"
import { workerControlSubject } from "../../src/jetstream/names.ts"
import { workerEnv } from "../../src/scaler/worker-env.ts"
import { managedContainers } from "../support/docker.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { testQueue } from "../support/queue.ts"
import { managedServices, removeManagedServices, taskContainer } from "../support/swarm.ts"
import { useSwarm } from "../support/swarm-fixture.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
useSwarm()

const lines: Array<LogLine> = []
const logged: Array<string> = []
const capture = Logger.layer([Logger.make((o) => void logged.push((o.message as ReadonlyArray<unknown>).join(" ")))])
const run = <A, E>(e: Effect.Effect<A, E>) => Effect.runPromise(e.pipe(Effect.provide(capture)))
const onLog = (l: LogLine) => void lines.push(l)
const driver = makeSwarmDriver({ network: "host", onLog }).driver

const queues: Array<string> = []
afterAll(async () => {
  for (const q of queues) await removeManagedServices(q)
})
const demoQueue = (prefix: string, over: Partial<QueueConfig> = {}) => {
  const q = testQueue(prefix, { image: "jetscale/worker-demo:dev", command: ["node", "services/workers/demo/dist/main.js"], stopTimeout: Duration.seconds(10), ...over })
  queues.push(q.name)
  return q
}
const startOn = (d: RuntimeDriver, q: QueueConfig, instance: string) => run(d.start({ queue: q, instance, env: workerEnv(q, instance, { url: nats.server.url }) }))
const started = (instance: string) => waitFor(`worker ${instance}'s start line`, () => lines.some((l) => l.instance === instance && l.line.includes("started: queue")))
const listed = async (d: RuntimeDriver, q: QueueConfig, instance: string) => (await run(d.list(q.name))).find((w) => w.instance === instance)
const exited = (d: RuntimeDriver, q: QueueConfig, instance: string, timeoutMs = 20_000) =>
  waitFor(`worker ${instance} to exit`, async () => {
    const w = await listed(d, q, instance)
    return w?.state === "exited" ? w : undefined
  }, timeoutMs)

describe("swarm driver", () => {
  it("runs each worker as one service, named and labelled like a container, with the queue's environment, limits and placement", async () => {
    const q = demoQueue("sw-spec", {
      concurrency: 2,
      limits: { memoryBytes: 256 * 1024 * 1024, cpus: 0.5, pids: 256 },
      placement: { constraints: ["node.role==manager"], preferences: ["spread=node.id"] }
    })
    await run(provisionQueue(nats.jsm, q))
    const w = await startOn(driver, q, "a1")
    expect(w).toMatchObject({ name: `jetscale-${q.name}-a1`, queue: q.name, instance: "a1", state: "running" })
    const [service] = await managedServices(q.name)
    const ours = { "io.jetscale.managed": "true", "io.jetscale.queue": q.name, "io.jetscale.instance": "a1", "io.jetscale.deployment": "default" }
    expect(service?.spec).toMatchObject({
      Name: `jetscale-${q.name}-a1`,
      Labels: ours,
      Mode: { Replicated: { Replicas: 1 } },
      TaskTemplate: {
        ContainerSpec: { Labels: ours, Init: true, ReadOnly: true, CapabilityDrop: ["ALL"], StopSignal: "SIGTERM", StopGracePeriod: 12e9 },
        Resources: { Limits: { MemoryBytes: 256 * 1024 * 1024, NanoCPUs: 500_000_000, Pids: 256 } },
        RestartPolicy: { Condition: "none" },
        Placement: { Constraints: ["node.role==manager"], Preferences: [{ Spread: { SpreadDescriptor: "node.id" } }] }
      }
    })
    const c = await (await taskContainer(w.id)).inspect()
    expect(c.Config.Labels).toMatchObject(ours)
    expect(c.Config.Env).toEqual(expect.arrayContaining([`NATS_URL=${nats.server.url}`, `JETSCALE_QUEUE=${q.name}`, "JETSCALE_CONCURRENCY=2", "JETSCALE_INSTANCE=a1"]))
    expect(c.HostConfig).toMatchObject({ NetworkMode: "host", Memory: 256 * 1024 * 1024, NanoCpus: 500_000_000, PidsLimit: 256, Init: true, ReadonlyRootfs: true, CapDrop: ["ALL"] })
    expect(c.HostConfig.Privileged).toBe(false)
    expect(c.Mounts).toMatchObject([{ Type: "tmpfs", Destination: "/tmp" }])
    // The demo image runs as its own user (1000), not root.
    expect(c.Config.User).toMatch(/^[1-9]\d*(:\d+)?$/)
    await started("a1")
    await run(driver.stop(w, q.stopTimeout))
    expect(await managedServices(q.name)).toEqual([])
  })

  it("hardens at run time: an image that would run as root runs as nobody, on a read-only root with a noexec /tmp and no capabilities", async () => {
    const probe = [
      "const fs = require('fs')",
      "console.log('uid=' + process.getuid())",
      "try { fs.writeFileSync('/x', '1') } catch (e) { console.log('root=' + e.code) }",
      "console.log('tmp=' + fs.readFileSync('/proc/mounts', 'utf8').split('\\n').find((l) => l.split(' ')[1] === '/tmp'))",
      "console.log('capeff=' + /CapEff:\\s*(\\w+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1])"
    ].join("; ")
    const q = demoQueue("sw-root", { image: "jetscale/node-base:24", command: ["node", "-e", probe] })
    const w = await run(driver.start({ queue: q, instance: "r1", env: {} }))
    const out = await waitFor("the probe's lines", () => {
      const mine = lines.filter((l) => l.instance === "r1").map((l) => l.line)
      return mine.length >= 4 ? mine : undefined
    })
    expect(out[0]).toBe("uid=65534")
    expect(out[1]).toBe("root=EROFS")
    expect(out[2]).toMatch(/^tmp=tmpfs \/tmp tmpfs rw,nosuid,nodev,noexec/)
    expect(out[3]).toBe("capeff=0000000000000000")
    expect((await exited(driver, q, "r1")).exitCode).toBe(0)
    await run(driver.remove(w))
  })

  it("mounts only what the queue configures: read-only unless :rw", async () => {
    const dir = await mkdtemp(join(tmpdir(), "jetscale-mount-"))
    await writeFile(join(dir, "in.txt"), "hello from the host")
    await chmod(dir, 0o755)
    const q = demoQueue("sw-mount", {
      image: "jetscale/node-base:24",
      command: ["node", "-e", "const fs = require('fs'); console.log('read=' + fs.readFileSync('/data/in.txt', 'utf8')); try { fs.writeFileSync('/data/out.txt', 'x'); console.log('write=ok') } catch (e) { console.log('write=' + e.code) }"],
      mounts: [{ source: dir, target: "/data", readOnly: true }]
    })
    const w = await run(driver.start({ queue: q, instance: "m1", env: {} }))
    await waitFor("the write attempt", () => lines.some((l) => l.instance === "m1" && l.line.startsWith("write=")))
    expect(lines.filter((l) => l.instance === "m1").map((l) => l.line)).toEqual(["read=hello from the host", "write=EROFS"])
    await exited(driver, q, "m1")
    await run(driver.remove(w))
    await rm(dir, { recursive: true, force: true })
  })

  it("sends every line of a worker that exits right after printing to the log sink once, stdout and stderr apart, before its service goes", async () => {
    // At this size the follow is still behind when the task exits (here: ~18,000 of 100,000 lines),
    // so the last read brings the rest, none twice.
    const n = 100_000
    const q = demoQueue("sw-logs", {
      image: "jetscale/node-base:24",
      command: ["node", "-e", `for (let i = 0; i < ${n}; i++) console.log('line ' + i); console.error('bye'); console.error('last words')`]
    })
    const w = await run(driver.start({ queue: q, instance: "g1", env: {} }))
    await run(driver.remove(await exited(driver, q, "g1")))
    const mine = lines.filter((l) => l.instance === "g1")
    expect(mine.filter((l) => l.stream === "stdout").map((l) => l.line)).toEqual(Array.from({ length: n }, (_, i) => `line ${i}`))
    expect(mine.filter((l) => l.stream === "stderr").map((l) => l.line)).toEqual(["bye", "last words"])
    expect(await managedServices(q.name)).toEqual([])
    expect(w.name).toBe(`jetscale-${q.name}-g1`)
  })

  it("refuses a privileged queue: Swarm has no privileged services", async () => {
    const q = demoQueue("sw-priv", { privileged: true })
    await expect(run(driver.start({ queue: q, instance: "p1", env: {} }))).rejects.toThrow(/privileged: Swarm has no privileged services/)
    expect(await managedServices(q.name)).toEqual([])
  })

  it("placement: a task no node can take stays pending, lists as running (no crash) and is told once; a satisfiable one runs", async () => {
    const nowhere = demoQueue("sw-nowhere", { placement: { constraints: ["node.labels.jetscale-test-zone==nowhere"], preferences: [] } })
    const w = await startOn(driver, nowhere, "n1")
    const task = await waitFor("the task to wait for a node", async () => {
      const t = (await managedServices(nowhere.name))[0]?.task
      return t?.Status?.State === "pending" && t.Status.Err ? t : undefined
    })
    expect(task.Status?.Err).toMatch(/no suitable node/)
    for (let i = 0; i < 3; i++) expect(await listed(driver, nowhere, "n1")).toMatchObject({ state: "running", exitCode: null })
    const told = logged.filter((l) => l.includes(`worker ${w.name} is not placed`))
    expect(told).toEqual([expect.stringMatching(/^queue sw-nowhere-\S+: worker \S+ is not placed: no suitable node .*\(placement constraints: node\.labels\.jetscale-test-zone==nowhere\); it counts as a replica/)])
    await run(driver.stop(w, nowhere.stopTimeout))
    expect(await managedServices(nowhere.name)).toEqual([])

    const somewhere = demoQueue("sw-somewhere", { placement: { constraints: ["node.role==manager", "node.platform.os==linux"], preferences: ["spread=node.id"] } })
    await run(provisionQueue(nats.jsm, somewhere))
    const s = await startOn(driver, somewhere, "y1")
    await started("y1")
    expect((await managedServices(somewhere.name))[0]?.task?.Status?.State).toBe("running")
    await run(driver.stop(s, somewhere.stopTimeout))
  })

  it("the docker driver lists no swarm task container, though it carries the same labels", async () => {
    const q = demoQueue("sw-labels")
    await run(provisionQueue(nats.jsm, q))
    const w = await startOn(driver, q, "l1")
    await started("l1")
    expect((await managedContainers(q.name)).map((c) => c.Labels["io.jetscale.instance"])).toEqual(["l1"])
    expect(await run(makeDockerDriver({ network: "host" }).list(q.name))).toEqual([])
    await run(driver.stop(w, q.stopTimeout))
  })

  it("a worker on another node (simulated) is stopped through Swarm on a scale-in: its job finishes within stopTimeout and is acked, and a line says it was not drained", async () => {
    const remote = makeSwarmDriver({ network: "host", onLog, allNodesRemote: true }).driver
    const q = demoQueue("sw-remote", { ackWait: Duration.seconds(2), maxDeliver: 100 })
    await run(provisionQueue(nats.jsm, q))
    const w = await startOn(remote, q, "o1")
    await started("o1")
    await jetstream(nats.nc).publish(q.subjects[0]!, JSON.stringify({ sleepMs: 3000, id: "remote" }))
    await waitFor("the job in flight", async () => (await run(readBacklog(nats.jsm, q))).ackPending === 1)
    await run(remote.drain(w))
    expect(logged.filter((l) => l.includes(`worker ${w.name} runs on node`))).toEqual([expect.stringMatching(/not on this manager's: Swarm can only stop it .* so it is stopped, not drained \(it did not answer a drain over NATS\)$/)])
    const gone: WorkerInfo = await exited(remote, q, "o1", 30_000)
    expect((await nats.jsm.streams.info(q.stream)).state.messages).toBe(0)
    expect((await nats.jsm.consumers.info(q.stream, q.consumer)).num_redelivered).toBe(0)
    await run(remote.remove(gone))
    expect(await managedServices(q.name)).toEqual([])
  })

  it("a worker on another node (simulated) is drained through NATS on a scale-in: a job longer than stopTimeout finishes, no redelivery, exit 0", async () => {
    const drainOverNats = (w: WorkerInfo) => Effect.tryPromise(() => nats.nc.request(workerControlSubject(w.queue, w.instance), "drain", { timeout: 2000 })).pipe(
      Effect.map((m) => m.string() === "ok"), Effect.orElseSucceed(() => false))
    const remote = makeSwarmDriver({ network: "host", onLog, allNodesRemote: true, drainOverNats }).driver
    const q = demoQueue("sw-natsdrain", { stopTimeout: Duration.seconds(1), ackWait: Duration.seconds(30) })
    await run(provisionQueue(nats.jsm, q))
    const w = await startOn(remote, q, "n1")
    await started("n1")
    await jetstream(nats.nc).publish(q.subjects[0]!, JSON.stringify({ sleepMs: 4000, id: "long" }))
    await waitFor("the job in flight", async () => (await run(readBacklog(nats.jsm, q))).ackPending === 1)
    await run(remote.drain(w))
    expect(logged.filter((l) => l.includes(`worker ${w.name} runs on node`))).toEqual([expect.stringMatching(/: drained through NATS \(jetscale\.control\)$/)])
    const gone: WorkerInfo = await exited(remote, q, "n1", 30_000)
    expect(gone.exitCode).toBe(0)
    const consumer = await nats.jsm.consumers.info(q.stream, q.consumer)
    expect([consumer.ack_floor.stream_seq, consumer.num_redelivered, (await nats.jsm.streams.info(q.stream)).state.messages]).toEqual([1, 0, 0])
    await run(remote.remove(gone))
  })

  it("idle: suspend: Swarm cannot pause a task, so a suspended replica drains and exits 0, and a line says so once", async () => {
    const q = demoQueue("sw-suspend", { idle: "suspend" })
    await run(provisionQueue(nats.jsm, q))
    const w = await startOn(driver, q, "z1")
    await started("z1")
    await run(driver.suspend(w))
    await run(driver.freeze(w))
    expect(logged.filter((l) => l.includes("Swarm cannot pause a task"))).toEqual([
      `queue ${q.name}: idle: suspend needs a runtime that can pause a worker, and Swarm cannot pause a task: its idle replicas drain and exit instead (as with idle: stop)`
    ])
    expect((await exited(driver, q, "z1")).exitCode).toBe(0)
    await run(driver.remove(w))
    expect(await managedServices(q.name)).toEqual([])
  })

  it("answers ping on a manager", async () => {
    await run(driver.ping)
  })
})
