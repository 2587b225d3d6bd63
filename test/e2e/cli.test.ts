// The CLI as a user runs it (the built `bin/jetscale.js`), against a real nats-server and dockerd:
// errors, enqueue, status --json, push wake-up, crash-loop backoff, no orphans, and down.
import { Effect } from "effect"
import { writeFile } from "node:fs/promises"
import { createServer, type AddressInfo } from "node:net"
import { describe, expect, it } from "vitest"
import { streamName } from "../../src/jetstream/names.ts"
import { provisionQueue } from "../../src/jetstream/provision.ts"
import { managedContainers } from "../support/docker.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { workerPids } from "../support/processes.ts"
import { testQueue, uniqueName } from "../support/queue.ts"
import { useScalers } from "../support/scaler-fixture.ts"
import { runCli, writeConfig, writeDockerConfig } from "../support/scaler-process.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const scalers = useScalers()

const processQueueConfig = (queue: string, extra = "", command = "[node, services/workers/demo/dist/main.js]") => writeConfig(`
nats: { url: "${nats.server.url}" }
runtime: { driver: process }
scaler: { interval: 500ms }
queues:
  ${queue}:
    command: ${command}
    maxReplicas: 2
    idleTimeout: 2s
    scaleDownDelay: 1s
    stopTimeout: 2s
${extra}`)

const up = scalers.up

describe("jetscale CLI", () => {
  it("a bad config starts nothing and prints every problem with its path; exit 1", async () => {
    const before = (await nats.jsm.streams.names().next()).length
    const path = await writeConfig(`nats: { url: "${nats.server.url}" }\nqueues:\n  demo:\n    maxReplica: 3\n    maxReplicas: -1\n    idleTimeout: soon\n`)
    const r = await runCli(["up", "--config", path])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain("queues.demo.maxReplica: unknown key (did you mean maxReplicas?)")
    expect(r.stderr).toContain("queues.demo.maxReplicas: expected an integer >= minReplicas (0), got -1")
    expect(r.stderr).toContain(`queues.demo.idleTimeout: invalid duration "soon" (use 30s, 5m, 250ms)`)
    expect((await nats.jsm.streams.names().next()).length).toBe(before)
  })

  it("up starts without the command-line parser but answers like the CLI: --config=FILE, --help, a typo", async () => {
    // A plain `up` runs from dist/up.js; the rest is handed to the full CLI: same errors, same help.
    for (const args of [["up", "--config", "/nonexistent/a.yaml"], ["up", "--config=/nonexistent/a.yaml"]]) {
      const r = await runCli(args)
      expect(r.code).toBe(1)
      expect(r.stderr.trim()).toBe("jetscale: config file not found: /nonexistent/a.yaml")
    }
    const help = await runCli(["up", "--help"])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain("run the scaler (and its admin API on admin.listen) in the foreground")
    expect(help.stdout).toContain("--config string")
    const typo = await runCli(["up", "--confg", "x.yaml"])
    expect(typo.code).not.toBe(0)
    expect(typo.stderr + typo.stdout).toContain("--confg")
  })

  it.each([
    ["a missing file", "/nonexistent/jetscale.yaml", "config file not found: /nonexistent/jetscale.yaml"],
    ["unreachable NATS", "UNREACHABLE", "cannot connect to NATS at nats://127.0.0.1:1"]
  ])("%s: one clear line, exit 1", async (_, file, text) => {
    const path = file === "UNREACHABLE" ? await writeConfig(`nats: { url: "nats://127.0.0.1:1" }\nqueues: { demo: { image: x } }\n`) : file
    const r = await runCli(["status", "--config", path])
    expect(r.code).toBe(1)
    expect(r.stderr.trim().split("\n")).toHaveLength(1)
    expect(r.stderr).toContain(text)
  })

  it("an OTLP collector that never answers does not hold up a command (its spans are dropped after 200 ms)", async () => {
    const q = testQueue("otel-dead")
    await Effect.runPromise(provisionQueue(nats.jsm, q))
    const path = await processQueueConfig(q.name)
    // Accepts connections and never answers: an export waits for its own 10s timeout.
    const silent = createServer(() => {}).listen(0, "127.0.0.1")
    await new Promise((r) => silent.once("listening", r))
    try {
      const started = performance.now()
      const r = await runCli(["enqueue", q.name, "{}", "--config", path], { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(silent.address() as AddressInfo).port}` })
      expect(r.code).toBe(0)
      expect(r.stdout).toContain("enqueued 1 job(s)")
      expect(performance.now() - started).toBeLessThan(5000)
    } finally {
      silent.close()
    }
  })

  it("enqueue publishes JSON or @file --count times; status --json works without a scaler (desired null)", async () => {
    const q = testQueue("cli")
    await Effect.runPromise(provisionQueue(nats.jsm, q))
    const path = await processQueueConfig(q.name)
    const payloadFile = `${path}.job.json`
    await writeFile(payloadFile, `{"sleepMs": 10}`)
    expect((await runCli(["enqueue", q.name, `{"id":"a"}`, "--config", path])).stdout).toContain(`enqueued 1 job(s) on jobs.${q.name}`)
    expect((await runCli(["enqueue", q.name, `@${payloadFile}`, "--count", "3", "--config", path])).code).toBe(0)
    const bad = await runCli(["enqueue", q.name, "{nope", "--config", path])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain("payload is not valid JSON")
    const status = await runCli(["status", "--json", "--config", path])
    expect(JSON.parse(status.stdout)).toEqual({
      queues: [{ name: q.name, stream: q.stream, consumer: "workers", pending: 4, ackPending: 0, replicas: 0, draining: null, suspended: null, desired: null, wanted: null, granted: null, signal: null, schedule: null }]
    })
  })

  it("pub publishes to any subject with -H headers and reads standard input; enqueue - reads it too", async () => {
    const q = testQueue("pub")
    await Effect.runPromise(provisionQueue(nats.jsm, q))
    const path = await processQueueConfig(q.name)
    const seen: Array<{ data: string; headers: Record<string, string> }> = []
    const sub = nats.nc.subscribe("pub.test.other", {
      callback: (_e, m) => void seen.push({ data: m.string(), headers: Object.fromEntries([...(m.headers?.keys() ?? [])].map((k) => [k, m.headers!.get(k)])) })
    })
    await nats.nc.flush()
    const plain = await runCli(["pub", "pub.test.other", `{"a":1}`, "-H", "X-Tenant:acme", "-H", "Idem: 42", "--config", path])
    expect(plain.stderr).toBe("")
    expect(plain.stdout).toContain("published 1 message(s) to pub.test.other (no configured queue captures it: plain NATS publish)")
    const piped = await runCli(["pub", "pub.test.other", "-", "--config", path], {}, `{"from":"stdin"}\n`)
    expect(piped.code).toBe(0)
    await waitFor("both messages", async () => seen.length === 2, 5000)
    expect(seen[0]).toMatchObject({ data: `{"a":1}`, headers: { "X-Tenant": "acme", Idem: "42" } })
    expect(seen[1]!.data).toBe(`{"from":"stdin"}`)
    sub.unsubscribe()

    // A queue's subject goes through JetStream: the line names the stream and the sequence.
    const toQueue = await runCli(["pub", `jobs.${q.name}`, `{"n":1}`, "-H", "X-Source:cli", "--config", path])
    expect(toQueue.stdout).toContain(`(queue ${q.name}, stream ${streamName(q.name)}, seq 1)`)
    const stored = await nats.jsm.streams.getMessage(streamName(q.name), { seq: 1 })
    expect(stored?.header.get("X-Source")).toBe("cli")
    const fromStdin = await runCli(["enqueue", q.name, "-", "--config", path], {}, Buffer.from(`{"n":2}`))
    expect(fromStdin.stdout).toContain("seq 2")
    expect((await nats.jsm.streams.getMessage(streamName(q.name), { seq: 2 }))?.string()).toBe(`{"n":2}`)

    const bad = await Promise.all([
      runCli(["pub", "a.*", "{}", "--config", path]),
      runCli(["pub", "a.b", "{}", "-H", "no-colon", "--config", path]),
      runCli(["enqueue", q.name, "-", "--config", path], {}, "not json")
    ])
    expect(bad.map((r) => r.code)).toEqual([1, 1, 1])
    expect(bad[0]!.stderr).toContain(`subject "a.*": a publish goes to one subject, not a wildcard`)
    expect(bad[1]!.stderr).toContain(`-H "no-colon": expected key:value`)
    expect(bad[2]!.stderr).toContain("standard input is not valid JSON")
  })

  it("a payload over the server's max_payload is refused before sending, with the limit and how to raise it", async () => {
    const q = testQueue("big")
    await Effect.runPromise(provisionQueue(nats.jsm, q))
    const path = await processQueueConfig(q.name)
    const big = JSON.stringify({ data: "x".repeat(2 * 1024 * 1024) })
    for (const args of [["enqueue", q.name, "-"], ["pub", `jobs.${q.name}`, "-"]]) {
      const r = await runCli([...args, "--config", path], {}, big)
      expect(r.code).toBe(1)
      expect(r.stderr).toContain("is over the NATS server's max_payload of 1,048,576 bytes")
      expect(r.stderr).toContain("raise max_payload in nats-server's config")
    }
    expect((await nats.jsm.streams.info(streamName(q.name))).state.messages).toBe(0)
  })

  it("a queue at maxBacklog refuses enqueue and pub with a clear 'queue full' line; what it holds stays", async () => {
    const q = testQueue("full", { maxBacklog: 1 })
    await Effect.runPromise(provisionQueue(nats.jsm, q))
    const path = await processQueueConfig(q.name, "", "[node, -e, \"0\"]")
    expect((await runCli(["enqueue", q.name, "{}", "--config", path])).code).toBe(0)
    for (const args of [["enqueue", q.name, "{}"], ["pub", `jobs.${q.name}`, "{}"]]) {
      const r = await runCli([...args, "--config", path])
      expect(r.code).toBe(1)
      expect(r.stderr.trim()).toBe(`jetscale: queue ${q.name} is full: its stream holds maxBacklog jobs; try again when workers have taken some`)
    }
    expect((await nats.jsm.streams.info(streamName(q.name))).state.messages).toBe(1)
  })

  it("events and status --watch end when their standard input ends, when ./stack marks it theirs (JETSCALE_END_WITH_STDIN=1)", async () => {
    const path = await processQueueConfig(uniqueName("gone"))
    for (const args of [["events"], ["status", "--watch"]]) {
      const started = performance.now()
      const r = await runCli([...args, "--config", path], { JETSCALE_END_WITH_STDIN: "1" }, "")
      expect(r.code).toBe(0)
      expect(performance.now() - started).toBeLessThan(20_000)
    }
  })

  it("wakes a queue at zero by push: the job runs long before the next reconcile tick", async () => {
    const queue = uniqueName("push")
    const path = await writeConfig(`
nats: { url: "${nats.server.url}" }
runtime: { driver: process }
scaler: { interval: 60s }
queues:
  ${queue}: { command: [node, services/workers/demo/dist/main.js], idleTimeout: 1m }
`)
    const scaler = up(path)
    await scaler.waitForOutput("scaler up")
    await new Promise((r) => setTimeout(r, 300)) // past the first tick
    await runCli(["enqueue", queue, `{"id":"wake"}`, "--config", path])
    await waitFor("the job acked", async () => (await nats.jsm.consumers.info(streamName(queue), "workers")).ack_floor.stream_seq === 1, 15_000)
    const status = JSON.parse((await runCli(["status", "--json", "--config", path])).stdout) as { queues: Array<{ desired: number; replicas: number }> }
    expect(status.queues[0]).toMatchObject({ desired: 1, replicas: 1 })
  })

  it("a worker that keeps dying is restarted with a growing delay, not in a tight loop", async () => {
    const queue = uniqueName("crashloop")
    const path = await processQueueConfig(queue, "", `[node, -e, "process.exit(3)"]`)
    const scaler = up(path)
    await scaler.waitForOutput("scaler up")
    await runCli(["enqueue", queue, "{}", "--config", path])
    await scaler.waitForOutput("unexpected exit; 2 in a row")
    await new Promise((r) => setTimeout(r, 4000))
    const starts = scaler.output().split("\n").filter((l) => l.includes("started worker")).length
    // Backoff 1s, 2s, 4s: about 4 starts in these ~6s; without it, 2 replicas every 500ms tick.
    expect(starts).toBeGreaterThanOrEqual(2)
    expect(starts).toBeLessThanOrEqual(6)
  })

  it("process workers are not orphaned when the scaler is killed; their job goes back to the queue", async () => {
    const queue = uniqueName("orphan")
    const path = await processQueueConfig(queue)
    const scaler = up(path)
    await scaler.waitForOutput("scaler up")
    await runCli(["enqueue", queue, `{"sleepMs": 60000}`, "--config", path])
    await waitFor("a worker process", async () => (await workerPids(queue)).length > 0 || undefined)
    await scaler.stop("SIGKILL")
    await waitFor("the worker processes to exit", async () => (await workerPids(queue)).length === 0, 15_000)
    const info = await nats.jsm.consumers.info(streamName(queue), "workers")
    expect(info.num_pending + info.num_ack_pending).toBe(1)
  })

  it("down drains and removes the docker workers a stopped scaler left running", async () => {
    const queue = uniqueName("down")
    scalers.cleanUpQueue(queue)
    const path = await writeDockerConfig(nats.server.url, `  ${queue}: { image: jetscale/worker-demo:dev, maxReplicas: 2, idleTimeout: 1m, stopTimeout: 5s }
`)
    const scaler = up(path)
    await scaler.waitForOutput("scaler up")
    await runCli(["enqueue", queue, `{"sleepMs": 10}`, "--count", "20", "--config", path])
    await waitFor("2 containers", async () => (await managedContainers(queue)).filter((c) => c.State === "running").length === 2)
    expect(await scaler.stop("SIGTERM")).toBe(0)
    expect((await managedContainers(queue)).length).toBe(2)
    // status reads the runtime without following worker logs, so it returns promptly.
    const t0 = Date.now()
    const status = await runCli(["status", "--json", "--config", path])
    expect(Date.now() - t0).toBeLessThan(15_000)
    expect(JSON.parse(status.stdout).queues[0]).toMatchObject({ replicas: 2, desired: null })
    const r = await runCli(["down", "--config", path])
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("down: 2 worker(s) removed")
    expect(await managedContainers(queue)).toEqual([])
  })
})
