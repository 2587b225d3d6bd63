// The `jetscale/worker` package export as a user consumes it: the built module by its package name,
// and the README's worker example type-checked against the published declarations.
import { execFileSync } from "node:child_process"
import { mkdirSync, rmSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"

const consumerDir = join(process.cwd(), ".build", "consumer")
afterAll(() => rmSync(consumerDir, { recursive: true, force: true }))

describe("jetscale/worker export", () => {
  it("loads by package name and exposes the SDK", async () => {
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", "const m = await import('jetscale/worker'); console.log(Object.keys(m).sort().join(','))"]).toString()
    expect(out.trim()).toBe("NonRetryableError,readWorkerSettings,runWorker,runWorkerFromSnapshot,startWorker")
  })

  it("type-checks the README's worker and batch examples against the published declarations", () => {
    mkdirSync(consumerDir, { recursive: true })
    writeFileSync(join(consumerDir, "worker.ts"), `
import { Schema } from "effect"
import { NonRetryableError, runWorker } from "jetscale/worker"

const Resize = Schema.Struct({ url: Schema.String, width: Schema.Int })
declare const resize: (url: string, width: number, signal: AbortSignal) => Promise<void>

await runWorker({
  schema: Resize,
  concurrency: 4,
  handler: async (job, ctx) => {
    if (!job.url.startsWith("https://")) throw new NonRetryableError("only https URLs")
    await resize(job.url, job.width, ctx.signal)
  }
})
// @ts-expect-error the payload is typed by the Schema
await runWorker({ schema: Resize, handler: (job) => job.nope })

// The README's batch example (Job shapes).
const Row = Schema.Struct({ id: Schema.String })
declare const db: { insertMany: (rows: ReadonlyArray<{ readonly id: string }>) => Promise<ReadonlyArray<{ ok: boolean; error: Error; transient: boolean }>> }
await runWorker({
  schema: Row,
  batch: { size: 100, timeout: "1s" },
  handler: async (jobs) => {
    const results = await db.insertMany(jobs.map((j) => j.payload))
    return results.map((r) => (r.ok ? { ok: true } : { error: r.error, retry: r.transient }))
  }
})
`)
    writeFileSync(join(consumerDir, "tsconfig.json"), JSON.stringify({
      compilerOptions: { target: "ES2023", module: "NodeNext", moduleResolution: "NodeNext", strict: true, noEmit: true, skipLibCheck: true, types: ["node"], lib: ["ES2023", "DOM"] },
      files: ["worker.ts"]
    }))
    const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")
    execFileSync(process.execPath, [tsc, "-p", consumerDir], { stdio: "pipe" })
  })
})
