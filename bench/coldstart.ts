// Cold-start benchmark (not a test): from zero replicas, publish one job and time it until its ack.
// 20 trials per driver (docker, process); prints p50/p95/max. Run: npm run bench:coldstart
//   BENCH_TRIALS=5 BENCH_DRIVERS=process npm run bench:coldstart   (fewer trials, one driver)
import { connect } from "@nats-io/transport-node"
import { jetstream } from "@nats-io/jetstream"
import { streamName } from "../src/jetstream/names.ts"
import type { QueueStatus } from "../src/scaler/queue-loop.ts"
import { statusSubject } from "../src/scaler/scaler.ts"
import { managedContainers } from "../test/support/docker.ts"
import { startNatsServer } from "../test/support/nats-server.ts"
import { workerPids } from "../test/support/processes.ts"
import { runCli, startScaler, writeConfig } from "../test/support/scaler-process.ts"
import { waitFor } from "../test/support/wait.ts"

const trials = Number(process.env.BENCH_TRIALS ?? 20)
const drivers = (process.env.BENCH_DRIVERS ?? "docker,process").split(",") as Array<"docker" | "process">

const quantile = (sorted: ReadonlyArray<number>, q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!

const runDriver = async (driver: "docker" | "process") => {
  const server = await startNatsServer()
  const nc = await connect({ servers: server.url })
  const queue = `cold-${driver}`
  const config = await writeConfig(`
nats: { url: "${server.url}" }
runtime: { driver: ${driver}, docker: { network: host } }
scaler: { interval: 1s }
queues:
  ${queue}:
    image: jetscale/worker-demo:dev
    command: [node, services/workers/demo/dist/main.js]
    maxReplicas: 1
    idleTimeout: 500ms
    scaleDownDelay: 500ms
    stopTimeout: 5s
`)
  const scaler = startScaler(config)
  try {
    await scaler.waitForOutput("scaler up")
    const js = jetstream(nc)
    const atZero = async () => {
      const reply = await nc.request(statusSubject, "", { timeout: 1000 })
      const s = reply.json<{ queues: Array<QueueStatus> }>().queues.find((q) => q.name === queue)
      // Workers still draining count too: the runtime, not the scaler's view, says when they are gone.
      const left = driver === "docker" ? (await managedContainers(queue)).length : (await workerPids(queue)).length
      return s?.desired === 0 && s.running === 0 && left === 0
    }
    const times: Array<number> = []
    for (let i = 0; i < trials; i++) {
      await waitFor("the queue to be at zero replicas", atZero, 30_000, 100)
      const acked = new Promise<number>((resolve) => {
        // The ack subject also carries NAKs and heartbeats (-NAK, +WPI): only +ACK counts.
        const sub = nc.subscribe(`$JS.ACK.${streamName(queue)}.>`, {
          callback: (_e, m) => {
            if (m.string() !== "+ACK") return
            sub.unsubscribe()
            resolve(performance.now())
          }
        })
      })
      await nc.flush()
      const t0 = performance.now()
      await js.publish(`jobs.${queue}`, JSON.stringify({ id: `cold-${i}` }))
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no ack within 30s")), 30_000))
      const ms = (await Promise.race([acked, timeout])) - t0
      times.push(ms)
      process.stdout.write(`  ${driver} trial ${i + 1}/${trials}: ${ms.toFixed(0)} ms\n`)
    }
    const sorted = [...times].sort((a, b) => a - b)
    return { driver, trials, p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), max: sorted.at(-1)! }
  } finally {
    await scaler.stop("SIGTERM")
    // `up` leaves docker workers running on exit (they'd be adopted); `down` drains them.
    if (driver === "docker") await runCli(["down", "--config", config])
    await nc.close()
    await server.stop()
  }
}

const results = []
for (const d of drivers) results.push(await runDriver(d))
console.log("\ncold start: publish of one job at zero replicas -> its ack")
console.log("driver   trials  p50      p95      max")
for (const r of results) {
  console.log(`${r.driver.padEnd(8)} ${String(r.trials).padEnd(7)} ${(r.p50 / 1000).toFixed(3)} s  ${(r.p95 / 1000).toFixed(3)} s  ${(r.max / 1000).toFixed(3)} s`)
}
