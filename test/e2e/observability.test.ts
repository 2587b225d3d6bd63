// Metrics, the admin API, overrides and logs against a real `jetscale up` (process driver) and a real
// nats-server: /metrics follows a known scenario, the API wants its token, `jetscale scale` pins
// replicas and then releases them, and `jetscale logs` shows what the worker printed.
import { spawn } from "node:child_process"
import { createServer, type AddressInfo } from "node:net"
import { describe, expect, it } from "vitest"
import { useNatsServer } from "../support/nats-fixture.ts"
import { uniqueName } from "../support/queue.ts"
import { useScalers } from "../support/scaler-fixture.ts"
import { runCli, writeConfig } from "../support/scaler-process.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const scalers = useScalers()
const token = "s3cret-test-token"

const metricValue = (text: string, series: string): number | undefined => {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

describe("observability end to end", () => {
  it("metrics follow the scenario; the API wants its token; scale pins and releases; logs show the worker", async () => {
    const queue = uniqueName("obs")
    // A fixed free port: `jetscale scale` finds the admin API through the config, as a user's would.
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const p = (probe.address() as AddressInfo).port
        probe.close(() => resolve(p))
      })
    })
    const path = await writeConfig(`
nats: { url: "${nats.server.url}" }
runtime: { driver: process }
scaler: { interval: 250ms }
admin: { listen: "127.0.0.1:${port}", token: "${token}" }
queues:
  ${queue}: { command: [node, services/workers/demo/dist/main.js], maxReplicas: 3, idleTimeout: 2s, scaleDownDelay: 500ms, stopTimeout: 3s }
`)
    const scaler = scalers.up(path)
    await scaler.waitForOutput("admin API on")
    const base = /admin API on (http:\/\/[^\s:]+:\d+)/.exec(scaler.output())![1]!
    const auth = { authorization: `Bearer ${token}` }
    const get = (p: string, headers: Record<string, string> = auth) => fetch(`${base}${p}`, { headers })

    // Auth: open health and metrics, everything else behind the token.
    expect((await get("/healthz", {})).status).toBe(200)
    expect((await get("/api/queues", {})).status).toBe(401)
    expect((await get("/api/queues", { authorization: "Bearer wrong" })).status).toBe(401)
    expect((await get("/readyz")).status).toBe(200)

    // `jetscale events` follows scale events live; `status --watch` redraws its table.
    const events = spawn(process.execPath, ["bin/jetscale.js", "events", "--json", "--config", path], { stdio: ["ignore", "pipe", "pipe"] })
    let eventsOut = ""
    events.stdout.on("data", (d: Buffer) => (eventsOut += d))
    let eventsErr = ""
    events.stderr.on("data", (d: Buffer) => (eventsErr += d))
    await waitFor("events to listen", () => eventsErr.includes("waiting for scale, config and leader events"))

    // The scenario: one job wakes the queue (a cold start), one is rejected into the DLQ.
    await runCli(["enqueue", queue, `{"id":"first","sleepMs":50}`, "--config", path])
    await runCli(["enqueue", queue, `{"fail":"permanent"}`, "--config", path])
    const metrics = await waitFor("the scenario in /metrics", async () => {
      const text = await (await get("/metrics", {})).text()
      return metricValue(text, `jetscale_cold_start_seconds_count{queue="${queue}"}`) === 1 &&
        metricValue(text, `jetscale_dlq_messages_total{queue="${queue}",reason="rejected"}`) === 1 &&
        metricValue(text, `jetscale_jobs_total{queue="${queue}",outcome="succeeded"}`) === 1 && text
    }, 20_000)
    expect(metricValue(metrics, `jetscale_scale_events_total{queue="${queue}",direction="up"}`)).toBeGreaterThanOrEqual(1)
    expect(metricValue(metrics, `jetscale_replicas{queue="${queue}",state="desired"}`)).toBe(1)
    await waitFor("the backlog gauge at 0", async () => metricValue(await (await get("/metrics", {})).text(), `jetscale_queue_backlog{queue="${queue}"}`) === 0, 10_000)
    expect(metricValue(metrics, `jetscale_job_duration_seconds_count{queue="${queue}"}`)).toBeGreaterThanOrEqual(2)

    const woke = await waitFor("the wake event", () => eventsOut.split("\n").filter(Boolean).map((l) => JSON.parse(l) as { queue: string; kind: string; to: number }).find((e) => e.queue === queue && e.kind === "wake"))
    expect(woke.to).toBe(1)
    events.kill("SIGINT")
    const watch = spawn(process.execPath, ["bin/jetscale.js", "status", "--watch", "--config", path], { stdio: ["ignore", "pipe", "pipe"] })
    let frames = ""
    watch.stdout.on("data", (d: Buffer) => (frames += d))
    await waitFor("two frames", () => frames.split("\x1b[2J").length >= 3, 10_000)
    watch.kill("SIGINT")
    // QUEUE BACKLOG IN-FLIGHT RUNNING/DESIRED DRAINING DONE/S LAST-DECISION
    expect(frames).toMatch(new RegExp(`${queue}\\s+\\d+\\s+\\d+\\s+\\d+/\\d+\\s+\\d+\\s+[\\d.]+\\s+\\d\\d:\\d\\d:\\d\\d`))

    // An override through the CLI pins 2 replicas, then the policy takes the queue back to zero.
    const pinned = await runCli(["scale", queue, "2", "--for", "3s", "--config", path])
    expect(pinned.code).toBe(0)
    expect(pinned.stdout).toContain("pinned to 2 replica(s)")
    const view = async () => ((await (await get("/api/queues")).json()) as { queues: Array<{ name: string; running: number; desired: number; override: unknown }> }).queues.find((q) => q.name === queue)!
    await waitFor("2 replicas pinned", async () => (await view()).running === 2, 10_000)
    await waitFor("the override released and the queue back at zero", async () => {
      const v = await view()
      return v.override === null && v.running === 0 && v.desired === 0
    }, 20_000)

    // Logs: the worker's output is in JETSCALE_LOGS.
    const logs = await runCli(["logs", queue, "--since", "10m", "--config", path])
    expect(logs.code).toBe(0)
    expect(logs.stdout).toMatch(new RegExp(`${queue}/[0-9a-f]{8} stdout\\| \\[[0-9a-f]{8}\\] started: queue ${queue}`))
    expect(logs.stdout).toContain("dead-lettered (rejected)")
  })
})
