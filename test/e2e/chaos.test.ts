// Chaos, CI-sized: 1,500 jobs of every kind through `jetscale up` (process driver) while a worker is
// SIGKILLed every 2s, the scaler is SIGKILLed at 8s (back 1s later) and nats-server at 16s (back
// 1.5s later on the same store and port). Nothing may be lost, nothing good dead-lettered, every
// failing job dead-lettered once with its reason and error, and the queue must end empty at zero.
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { bundleWorker, chaosTable, runChaos } from "../support/chaos/harness.ts"

describe("chaos", () => {
  it("under worker, scaler and nats-server kills: no job lost, none wrongly dead-lettered, nothing left", async () => {
    const dir = mkdtempSync(join(tmpdir(), "jetscale-chaos-"))
    const bundle = await bundleWorker(dir)
    const r = await runChaos({
      jobs: 1500,
      driver: "process",
      publishForMs: 20_000,
      workerKillEveryMs: 2000,
      killWorkersForMs: 22_000,
      scalerKillsAtMs: [8000],
      scalerDownMs: 1000,
      natsKillsAtMs: [16_000],
      natsDownMs: 1500,
      settleTimeoutMs: 90_000,
      log: () => {}
    }, { bundle }).finally(() => rmSync(dir, { recursive: true, force: true }))
    console.log(`${chaosTable(r)}\n${r.duplicates} job(s) ran more than once\n${r.events.join("\n")}${r.diagnostics ? `\n${r.diagnostics}` : ""}`)
    expect(r.lost).toEqual([])
    expect(r.wrongDlq).toEqual([])
    expect(r.deadLettered).toEqual({ max_deliveries: expect.any(Number), rejected: expect.any(Number), invalid_payload: expect.any(Number) })
    expect(r.leftInStream).toBe(0)
    expect(r.replicas).toBe(0)
  }, 180_000)
})
