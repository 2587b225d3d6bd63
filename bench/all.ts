// `npm run bench`: every performance figure of the README in one run on one machine, as one table
// in which each row names its baseline (measured in the same run) and gives the ratio to it:
// SDK throughput vs raw nats.js, wake to ack vs a bare `docker run` and vs the bundled demo, CLI
// start vs `node -e 0`, the scaler at 1/100/1,000 queues, and a 200-job spike to maxReplicas.
// Then the wake path's breakdown. BENCH_QUICK=1 runs fewer trials (a smoke run, not figures).
import { jetstream } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { execFileSync, spawnSync } from "node:child_process"
import { cpus, totalmem } from "node:os"
import { startNatsServer } from "../test/support/nats-server.ts"
import { scalerStatus } from "../test/support/scaler-status.ts"
import { startScaler, writeConfig } from "../test/support/scaler-process.ts"
import { waitFor } from "../test/support/wait.ts"
import { measureScalerAt } from "./scaler-scale.ts"
import { measureThroughput } from "./throughput.ts"
import { dirname } from "node:path"
import { bareDockerRun, breakdownHeader, breakdownRows, measureWake, quantile, userWorker, wakeKinds, type WakeResult } from "./wake.ts"

const quick = process.env.BENCH_QUICK === "1"
const trials = quick ? 3 : 15
const rows: Array<string> = []
const row = (what: string, value: string, baseline: string, ratio: number | undefined, target: string) =>
  rows.push(`| ${what} | ${value} | ${baseline} | ${ratio === undefined ? "-" : `${ratio.toFixed(2)}x`} | ${target} |`)
const s = (ms: number) => `${(ms / 1000).toFixed(3)} s`
const log = (line: string) => process.stderr.write(`${line}\n`)

/** Wall time (ms) and peak RSS (bytes) of a command, median of `n` runs. */
const timeCommand = (argv: ReadonlyArray<string>, n: number, cwd?: string) => {
  const runs = Array.from({ length: n }, () => {
    const t0 = performance.now()
    const r = spawnSync("/usr/bin/time", ["-f", "%M", ...argv], { encoding: "utf8", ...(cwd ? { cwd } : {}) })
    const ms = performance.now() - t0
    const kb = Number(r.stderr.trim().split("\n").at(-1))
    return { ms, rss: kb * 1024 }
  })
  return { ms: quantile(runs.map((r) => r.ms), 0.5), rss: quantile(runs.map((r) => r.rss), 0.5) }
}

// 1. SDK throughput.
log("SDK throughput ...")
const throughput = await measureThroughput({ jobs: quick ? 5_000 : 20_000, concurrencies: [1, 4, 32, 256] })
const raw = throughput[0]!.jobsPerSecond
const targets: Record<number, string> = { 1: ">= 0.5x", 4: ">= 0.85x", 32: ">= 0.85x", 256: ">= 0.9x" }
for (const t of throughput.slice(1)) {
  row(`SDK throughput, no-op handler, concurrency ${t.concurrency}`, `${Math.round(t.jobsPerSecond).toLocaleString("en")} jobs/s`,
    `raw nats.js consume + ack: ${Math.round(raw).toLocaleString("en")} jobs/s`, t.jobsPerSecond / raw, targets[t.concurrency!]!)
}

// 2. Wake from zero.
const wakes: Array<WakeResult> = []
for (const kind of wakeKinds) {
  log(`wake to ack, ${kind} ...`)
  wakes.push(await measureWake(kind, trials))
}
const bare = bareDockerRun(Math.min(trials, 10))
const p50 = (kind: string) => quantile(wakes.find((w) => w.kind === kind)!.trials.map((t) => t.acked), 0.5)
const bareP50 = quantile(bare, 0.5)
row("wake to ack, process driver, bundled demo worker", s(p50("process-bundled")), `bare docker run: ${s(bareP50)}`, p50("process-bundled") / bareP50, "-")
row("wake to ack, process driver, a user's unbundled worker", s(p50("process-unbundled")), `bundled demo: ${s(p50("process-bundled"))}`, p50("process-unbundled") / p50("process-bundled"), "<= 1.2x")
row("wake to ack, docker driver, bundled demo worker", s(p50("docker-bundled")), `bare docker run: ${s(bareP50)}`, p50("docker-bundled") / bareP50, "<= 1.0x")
row("wake to ack, docker driver, idle: suspend (thaw)", s(p50("docker-suspend")), `bare docker run: ${s(bareP50)}`, p50("docker-suspend") / bareP50, "<= 0.25x")
row("wake to ack, process driver, idle: suspend (SIGCONT)", s(p50("process-suspend")), `bare docker run: ${s(bareP50)}`, p50("process-suspend") / bareP50, "-")
row("wake to ack, process driver, mode: job (a worker per job)", s(p50("process-job")), `worker mode: ${s(p50("process-bundled"))}`, p50("process-job") / p50("process-bundled"), "-")
row("wake to ack, docker driver, mode: job (a container per job)", s(p50("docker-job")), `bare docker run: ${s(bareP50)}`, p50("docker-job") / bareP50, "-")

// 3. CLI start.
log("CLI start ...")
const nodeE = timeCommand([process.execPath, "-e", "0"], 7)
const help = timeCommand([process.execPath, "bin/jetscale.js", "--help"], 7)
row("`jetscale --help`", `${s(help.ms)}, ${Math.round(help.rss / 1e6)} MB`, `node -e 0: ${s(nodeE.ms)}, ${Math.round(nodeE.rss / 1e6)} MB`, help.ms / nodeE.ms, "<= 0.3 s, <= 80 MB")
{
  // As a user's project loads it: `jetscale` installed in node_modules, the `jetscale/worker` export.
  const project = dirname(await userWorker())
  const load = timeCommand([process.execPath, "--input-type=module", "-e", `await import("jetscale/worker")`], 7, project)
  row("`import \"jetscale/worker\"` (a user's project)", s(load.ms), `node -e 0: ${s(nodeE.ms)}`, load.ms / nodeE.ms, "<= 0.15 s")
}
{
  const server = await startNatsServer()
  const config = await writeConfig(`
nats: { url: "${server.url}" }
runtime: { driver: process }
queues:
  cli: { command: [node, -e, "0"], maxReplicas: 1 }
`)
  const scaler = startScaler(config)
  try {
    await scaler.waitForOutput("scaler up")
    const status = timeCommand([process.execPath, "bin/jetscale.js", "status", "--config", config], 7)
    row("`jetscale status`", s(status.ms), `node -e 0: ${s(nodeE.ms)}`, status.ms / nodeE.ms, "<= 0.5 s")
    const enqueue = timeCommand([process.execPath, "bin/jetscale.js", "enqueue", "cli", "{}", "--config", config], 7)
    row("`jetscale enqueue`", s(enqueue.ms), `node -e 0: ${s(nodeE.ms)}`, enqueue.ms / nodeE.ms, "<= 0.5 s")
  } finally {
    await scaler.stop("SIGTERM")
    await server.stop()
  }
}

// 4. The scaler at many queues.
for (const n of [1, 100, 1000]) {
  log(`scaler at ${n} queue(s) ...`)
  const r = await measureScalerAt(n, quick ? 3 : 10)
  row(`scaler, ${n} idle queue(s): ready / idle CPU / RSS`, `${r.readySeconds.toFixed(2)} s / ${(r.idleCpu * 100).toFixed(1)}% / ${Math.round(r.rssBytes / 1e6)} MB`, "-", undefined,
    n === 1 ? "RSS <= 100 MB" : n === 1000 ? "<= 10 s / <= 5% / <= 200 MB" : "-")
}

// 5. A backlog spike: 200 jobs at zero replicas -> maxReplicas running.
log("backlog spike ...")
{
  const server = await startNatsServer()
  const nc = await connect({ servers: server.url })
  const config = await writeConfig(`
nats: { url: "${server.url}" }
runtime: { driver: process }
scaler: { interval: 1s }
queues:
  spike:
    command: [node, services/workers/demo/dist/main.js]
    maxReplicas: 4
    targetPending: 10
    concurrency: 4
`)
  const scaler = startScaler(config)
  try {
    await scaler.waitForOutput("scaler up")
    const js = jetstream(nc)
    const t0 = performance.now()
    await Promise.all(Array.from({ length: 200 }, (_, i) => js.publish("jobs.spike", JSON.stringify({ id: `spike-${i}`, sleepMs: 2000 }))))
    await waitFor("4 replicas running", async () => {
      return ((await scalerStatus(nc, "spike"))?.running ?? 0) >= 4
    }, 30_000, 20)
    row("backlog spike of 200 jobs at zero -> maxReplicas (4) started, process driver", s(performance.now() - t0), "-", undefined, "-")
  } finally {
    await scaler.stop("SIGTERM")
    await nc.close()
    await server.stop()
  }
}

const dockerVersion = (() => {
  try {
    return `Docker ${execFileSync("docker", ["version", "--format", "{{.Server.Version}}"], { encoding: "utf8" }).trim()}`
  } catch {
    return "no Docker"
  }
})()
const natsVersion = execFileSync(process.env.NATS_SERVER_BIN ?? "nats-server", ["--version"], { encoding: "utf8" }).trim()
console.log(`Machine: ${cpus().length} cores (${cpus()[0]?.model.trim()}), ${Math.round(totalmem() / 2 ** 30)} GB; Node ${process.version}, ${natsVersion}, ${dockerVersion}${quick ? " (BENCH_QUICK: fewer trials)" : ""}\n`)
console.log(["| what | this run | baseline (same run) | ratio | target |", "| --- | --- | --- | --- | --- |", ...rows].join("\n"))
console.log(`\nWake path, medians of ${trials} trials (each step's time since the previous one):\n`)
console.log([...breakdownHeader, ...breakdownRows(wakes)].join("\n"))
console.log(`\nbare docker run --rm jetscale/worker-demo:dev node -e 0: p50 ${s(bareP50)}, p95 ${s(quantile(bare, 0.95))}`)
