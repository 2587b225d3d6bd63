// The demo worker: its payload drives its behaviour (used by tests, benchmarks and the README).
//   {"sleepMs"?: number, "fail"?: "never"|"once"|"always"|"permanent", "crash"?: boolean, "id"?: string}
// main.ts runs it; snapshot.ts is the same worker as a V8 startup snapshot entry (the demo image).
import { Schema } from "effect"
import { NonRetryableError, type WorkerOptions } from "../../../src/worker/index.ts"

const DemoJob = Schema.Struct({
  sleepMs: Schema.optional(Schema.Number.pipe(Schema.check(Schema.isBetween({ minimum: 0, maximum: 3_600_000 })))),
  fail: Schema.optional(Schema.Literals(["never", "once", "always", "permanent"])),
  crash: Schema.optional(Schema.Boolean),
  id: Schema.optional(Schema.String)
})

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms)
    signal.addEventListener("abort", () => { clearTimeout(t); resolve() }, { once: true })
  })

export const demoWorker: WorkerOptions<typeof DemoJob.Type> = {
  schema: DemoJob,
  handler: async (job, ctx) => {
    if (job.sleepMs) await sleep(job.sleepMs, ctx.signal)
    if (job.crash) {
      // Like a SIGKILL mid-job: no ack, no drain. As PID 1 of a container the kill is ignored, hence the exit.
      process.kill(process.pid, "SIGKILL")
      process.exit(137)
    }
    switch (job.fail) {
      case "always": throw new Error(`demo job ${job.id ?? ctx.streamSeq} failed (fail: always)`)
      // A replay from the DLQ is a later attempt of the same job.
      case "once":
        if (ctx.deliveries === 1 && !ctx.headers["Jetscale-Replay-Of"]) throw new Error(`demo job ${job.id ?? ctx.streamSeq} failed on its first delivery (fail: once)`)
        break
      case "permanent": throw new NonRetryableError(`demo job ${job.id ?? ctx.streamSeq} rejected (fail: permanent)`)
    }
  }
}
