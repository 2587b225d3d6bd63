// The chaos tests' worker: its payload says how a job behaves, and every finished attempt is appended
// to a ledger file (CHAOS_LEDGER) before the handler returns, so a run can tell which jobs ran, how
// often, and which ended how.
//   {"id": string, "kind": "quick" | "slow" | "fail-once" | "fail-always" | "reject", "sleepMs"?: number}
import { appendFileSync } from "node:fs"
import { NonRetryableError, runWorker } from "../../../src/worker/index.ts"

export type ChaosKind = "quick" | "slow" | "fail-once" | "fail-always" | "reject"

interface ChaosJob {
  readonly id: string
  readonly kind: ChaosKind
  readonly sleepMs?: number
}

const ledger = process.env.CHAOS_LEDGER
if (!ledger) throw new Error("CHAOS_LEDGER: required (the ledger file)")

/** One line per attempt: `<outcome> <id> <delivery> <instance>`; `ok` lines are the jobs that succeeded. */
const note = (outcome: "ok" | "fail" | "reject", id: string, deliveries: number, instance: string) =>
  appendFileSync(ledger, `${outcome} ${id} ${deliveries} ${instance}\n`)

const sleep = (ms: number, signal: AbortSignal) => new Promise<void>((resolve) => {
  const t = setTimeout(resolve, ms)
  signal.addEventListener("abort", () => { clearTimeout(t); resolve() }, { once: true })
})

await runWorker<ChaosJob>({
  handler: async (job, ctx) => {
    if (job.sleepMs) await sleep(job.sleepMs, ctx.signal)
    if (ctx.signal.aborted) return
    switch (job.kind) {
      case "fail-always":
        note("fail", job.id, ctx.deliveries, ctx.instance)
        throw new Error(`chaos job ${job.id} fails always`)
      case "reject":
        note("reject", job.id, ctx.deliveries, ctx.instance)
        throw new NonRetryableError(`chaos job ${job.id} rejected`)
      case "fail-once":
        if (ctx.deliveries === 1) {
          note("fail", job.id, ctx.deliveries, ctx.instance)
          throw new Error(`chaos job ${job.id} fails on its first delivery`)
        }
    }
    note("ok", job.id, ctx.deliveries, ctx.instance)
  }
})
