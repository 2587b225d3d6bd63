// Dead-letter benchmark (not a test): how fast failing jobs reach the DLQ, by each path.
//   - rejected: the worker copies the job to the DLQ itself, then acks it;
//   - max_deliveries: the last attempt fails, the MAX_DELIVERIES advisory is captured and the processor
//     moves the job (with its recorded error) to the DLQ.
// Run: npm run bench:dlq   (BENCH_JOBS=500 by default)
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { Duration, Effect, Fiber } from "effect"
import { runDeadLetterProcessor } from "../src/dlq/processor.ts"
import { provisionDeadLettering } from "../src/dlq/provision.ts"
import { provisionQueue } from "../src/jetstream/provision.ts"
import { dlqStream } from "../src/jetstream/names.ts"
import { NonRetryableError, startWorker } from "../src/worker/index.ts"
import { startNatsServer } from "../test/support/nats-server.ts"
import { testQueue } from "../test/support/queue.ts"
import { waitFor } from "../test/support/wait.ts"

const jobs = Number(process.env.BENCH_JOBS ?? 500)
const server = await startNatsServer()
const nc = await connect({ servers: server.url })
const jsm = await jetstreamManager(nc)
const js = jetstream(nc)
const dlqCount = async () => (await jsm.streams.info(dlqStream).catch(() => null))?.state.messages ?? 0

const run = async (path: "rejected" | "max_deliveries") => {
  const q = testQueue(`bench-${path.replace("_", "-")}`, { maxDeliver: 1, concurrency: 32, ackWait: Duration.seconds(30) })
  await Effect.runPromise(provisionQueue(jsm, q))
  await Effect.runPromise(provisionDeadLettering(jsm, [q]))
  const processor = Effect.runFork(runDeadLetterProcessor(js, jsm, [q]))
  const worker = await startWorker({
    concurrency: 32, log: () => {},
    settings: { natsUrl: server.url, queue: q.name, instance: "bench" },
    handler: () => { throw path === "rejected" ? new NonRetryableError("rejected") : new Error("fails") }
  })
  const before = await dlqCount()
  const t0 = performance.now()
  await Promise.all(Array.from({ length: jobs }, (_, i) => js.publish(q.subjects[0]!, JSON.stringify({ i }))))
  await waitFor(`${jobs} dead letters`, async () => (await dlqCount()) - before >= jobs, 120_000, 20)
  const seconds = (performance.now() - t0) / 1000
  // Latency of one job: publish -> its DLQ entry (one attempt, maxDeliver 1).
  const latencies: Array<number> = []
  for (let i = 0; i < 20; i++) {
    const n = await dlqCount()
    const t = performance.now()
    await js.publish(q.subjects[0]!, "{}")
    await waitFor("the dead letter", async () => (await dlqCount()) > n, 30_000, 2)
    latencies.push(performance.now() - t)
  }
  await worker.stop()
  await Effect.runPromise(Fiber.interrupt(processor))
  latencies.sort((a, b) => a - b)
  return { path, jobs, seconds, rate: jobs / seconds, p50: latencies[9]!, max: latencies.at(-1)! }
}

const results = [await run("rejected"), await run("max_deliveries")]
await nc.close()
await server.stop()
console.log("\ndead-lettering: publish -> DLQ entry (nats-server 2.9.10, one worker, concurrency 32)")
for (const r of results) {
  console.log(`${r.path.padEnd(15)} ${r.jobs} jobs in ${r.seconds.toFixed(2)} s (${r.rate.toFixed(0)}/s); one job: p50 ${r.p50.toFixed(0)} ms, max ${r.max.toFixed(0)} ms`)
}
