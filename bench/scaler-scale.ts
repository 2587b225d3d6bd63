// The scaler at many queues (not a test): for 1, 100 and 1,000 idle queues (process driver, no
// jobs) it times `jetscale up` from spawn to "scaler up", then samples the scaler's CPU over 10 s
// of idling and its resident memory, from /proc. Run: npm run bench:scaler
//   BENCH_QUEUES=1,100 BENCH_IDLE_SECONDS=5 npm run bench:scaler
import { readFile } from "node:fs/promises"
import { pathToFileURL } from "node:url"
import { setTimeout as sleep } from "node:timers/promises"
import { startNatsServer } from "../test/support/nats-server.ts"
import { startScaler, writeConfig } from "../test/support/scaler-process.ts"

export interface ScalerScaleRow {
  readonly queues: number
  readonly readySeconds: number
  /** Share of one core while idle, 0..1. */
  readonly idleCpu: number
  readonly rssBytes: number
}

const ticksPerSecond = 100

const cpuSeconds = async (pid: number) => {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond
}

const rssBytes = async (pid: number) => {
  const line = (await readFile(`/proc/${pid}/status`, "utf8")).split("\n").find((l) => l.startsWith("VmRSS:"))!
  return Number(line.split(/\s+/)[1]) * 1024
}

const configFor = (url: string, queues: number) => writeConfig([
  `nats: { url: "${url}" }`,
  "runtime: { driver: process }",
  "scaler: { interval: 1s }",
  "queues:",
  ...Array.from({ length: queues }, (_, i) => `  idle-${i}: { command: [node, -e, "0"], maxReplicas: 2 }`)
].join("\n"))

export const measureScalerAt = async (queues: number, idleSeconds: number): Promise<ScalerScaleRow> => {
  const server = await startNatsServer()
  const config = await configFor(server.url, queues)
  const started = performance.now()
  const scaler = startScaler(config, process.env.BENCH_SCALER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_SCALER_NODE_OPTIONS } : {})
  try {
    await scaler.waitForOutput("scaler up", 120_000)
    const readySeconds = (performance.now() - started) / 1000
    // Settle (first ticks, adoption wait), then sample.
    await sleep(3000)
    const cpu0 = await cpuSeconds(scaler.pid)
    const t0 = performance.now()
    await sleep(idleSeconds * 1000)
    const idleCpu = (await cpuSeconds(scaler.pid) - cpu0) / ((performance.now() - t0) / 1000)
    return { queues, readySeconds, idleCpu, rssBytes: await rssBytes(scaler.pid) }
  } finally {
    await scaler.stop("SIGTERM")
    await server.stop()
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const counts = (process.env.BENCH_QUEUES ?? "1,100,1000").split(",").map(Number)
  const idleSeconds = Number(process.env.BENCH_IDLE_SECONDS ?? 10)
  console.log("| queues | ready | idle CPU (one core) | RSS |\n| --- | --- | --- | --- |")
  for (const n of counts) {
    const r = await measureScalerAt(n, idleSeconds)
    console.log(`| ${n} | ${r.readySeconds.toFixed(2)} s | ${(r.idleCpu * 100).toFixed(1)}% | ${Math.round(r.rssBytes / 1e6)} MB |`)
  }
}
