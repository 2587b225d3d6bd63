// SDK throughput (not a test): raw nats.js `consume()` + `ack()` against the worker SDK (the built
// `jetscale/worker` export, as a user's unbundled worker imports it) with a no-op handler, at
// several concurrencies, on one local nats-server, in one run. Each row drains the same number of
// pre-published jobs from a fresh work-queue stream with a consumer set up like jetscale's.
// Run: npm run bench:throughput   (BENCH_JOBS=50000 BENCH_CONCURRENCY=1,4 to change the run)
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JetStreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { pathToFileURL } from "node:url"
import { startNatsServer } from "../test/support/nats-server.ts"

export interface ThroughputRow {
  readonly what: string
  readonly concurrency: number | undefined
  readonly jobsPerSecond: number
}

const publishJobs = async (nc: NatsConnection, subject: string, jobs: number) => {
  const js = jetstream(nc)
  const payload = JSON.stringify({ id: "x".repeat(100) })
  let sent = 0
  const lane = async () => {
    while (sent < jobs) {
      sent++
      await js.publish(subject, payload)
    }
  }
  await Promise.all(Array.from({ length: 500 }, lane))
}

const freshQueue = async (jsm: JetStreamManager, nc: NatsConnection, name: string, jobs: number) => {
  await jsm.streams.add({ name, subjects: [`bench.${name}`], retention: RetentionPolicy.Workqueue, storage: StorageType.File })
  await jsm.consumers.add(name, { durable_name: "workers", ack_policy: AckPolicy.Explicit, ack_wait: 30_000_000_000, max_deliver: 5, max_ack_pending: 10_000 })
  await publishJobs(nc, `bench.${name}`, jobs)
}

const timed = async (jobs: number, run: (done: () => void) => Promise<() => Promise<void>>) => {
  let resolve = () => {}
  const finished = new Promise<void>((r) => { resolve = r })
  const started = performance.now()
  const stop = await run(resolve)
  await Promise.race([finished, new Promise((_, reject) => setTimeout(() => reject(new Error("not all jobs done within 120 s")), 120_000).unref())])
  const seconds = (performance.now() - started) / 1000
  await stop()
  return jobs / seconds
}

/** Raw nats.js: `consume()` with its defaults, `ack()` each message. */
const raw = (nc: NatsConnection, stream: string, jobs: number) => timed(jobs, async (done) => {
  const consumer = await jetstream(nc).consumers.get(stream, "workers")
  const messages = await consumer.consume()
  let acked = 0
  void (async () => {
    for await (const m of messages) {
      m.ack()
      if (++acked === jobs) done()
    }
  })()
  return async () => { await messages.close() }
})

/** The SDK as a user imports it: `startWorker` from the built `jetscale/worker`. */
const sdk = (url: string, stream: string, jobs: number, concurrency: number) => timed(jobs, async (done) => {
  const { startWorker } = await import(pathToFileURL(new URL("../dist/worker.js", import.meta.url).pathname).href) as typeof import("../src/worker/index.ts")
  let handled = 0
  const worker = await startWorker({
    concurrency,
    settings: { natsUrl: url, queue: stream.toLowerCase(), stream, consumer: "workers", instance: `bench-${concurrency}` },
    log: () => {},
    handler: () => { if (++handled === jobs) setImmediate(done) }
  })
  return worker.stop
})

export const measureThroughput = async (options: { readonly jobs: number; readonly concurrencies: ReadonlyArray<number> }): Promise<ReadonlyArray<ThroughputRow>> => {
  const server = await startNatsServer()
  const nc = await connect({ servers: server.url })
  try {
    const jsm = await jetstreamManager(nc)
    const rows: Array<ThroughputRow> = []
    let n = 0
    const next = async () => {
      const name = `BENCH${n++}`
      await freshQueue(jsm, nc, name, options.jobs)
      return name
    }
    rows.push({ what: "raw nats.js consume + ack", concurrency: undefined, jobsPerSecond: await raw(nc, await next(), options.jobs) })
    for (const c of options.concurrencies) {
      rows.push({ what: "worker SDK, no-op handler", concurrency: c, jobsPerSecond: await sdk(server.url, await next(), options.jobs, c) })
    }
    return rows
  } finally {
    await nc.close()
    await server.stop()
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const jobs = Number(process.env.BENCH_JOBS ?? 20_000)
  const concurrencies = (process.env.BENCH_CONCURRENCY ?? "1,4,32,256").split(",").map(Number)
  const rows = await measureThroughput({ jobs, concurrencies })
  const rawRate = rows[0]!.jobsPerSecond
  console.log(`${jobs} jobs per row, no-op handler\n\n| what | concurrency | jobs/s | vs raw |\n| --- | --- | --- | --- |`)
  for (const r of rows) console.log(`| ${r.what} | ${r.concurrency ?? "-"} | ${Math.round(r.jobsPerSecond).toLocaleString("en")} | ${(r.jobsPerSecond / rawRate).toFixed(2)}x |`)
}
