// Publish throughput benchmark (not a test): what JetStream's durability setting costs a producer.
// Publishes BENCH_MESSAGES jobs (130 bytes, 1,000 awaiting their ack at a time) to a work-queue
// stream on a local nats-server, with the default flush and with `sync_interval: always` (a publish
// is acknowledged once it is on disk; nats-server 2.10+, which the compose stack runs). With a 2.9
// server that row says so. Run: npm run bench:publish   (NATS_SERVER_BIN picks the server binary)
import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { execFileSync } from "node:child_process"
import { startNatsServer } from "../test/support/nats-server.ts"

const messages = Number(process.env.BENCH_MESSAGES ?? 20_000)
const inFlight = 1000
const binary = process.env.NATS_SERVER_BIN ?? "nats-server"
const version = execFileSync(binary, ["--version"], { encoding: "utf8" }).trim()

const measure = async (jetstreamExtra: string) => {
  const server = await startNatsServer({ jetstream: jetstreamExtra })
  const nc = await connect({ servers: server.url })
  try {
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: "BENCH", subjects: ["jobs.bench"], retention: RetentionPolicy.Workqueue, storage: StorageType.File })
    const js = jetstream(nc)
    const payload = JSON.stringify({ id: "x".repeat(100), sleepMs: 1 })
    const started = performance.now()
    let sent = 0
    const lane = async () => {
      while (sent < messages) {
        sent++
        await js.publish("jobs.bench", payload)
      }
    }
    await Promise.all(Array.from({ length: inFlight }, lane))
    return messages / ((performance.now() - started) / 1000)
  } finally {
    await nc.close()
    await server.stop()
  }
}

const baseline = await measure("")
const synced = await measure("sync_interval: always").catch((e: unknown) => (e instanceof Error ? e.message : String(e)))
const row = (what: string, rate: number | string) =>
  `| ${what} | ${typeof rate === "number" ? `${Math.round(rate).toLocaleString("en")} jobs/s` : "not supported by this server"} | ${typeof rate === "number" ? `${(rate / baseline).toFixed(2)}x` : "-"} |`
console.log([
  `${version}, ${messages} jobs of 130 bytes, ${inFlight} in flight, file storage`,
  "",
  "| jetstream setting | publish throughput | vs default |",
  "| --- | --- | --- |",
  row("default (flushed every 2 min)", baseline),
  row("sync_interval: always", synced)
].join("\n"))
if (typeof synced === "string") console.log(`\n(${synced.split("\n")[0]})`)
