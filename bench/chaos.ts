// `npm run chaos`: the soak-sized chaos run. 10,000 jobs of every kind through `jetscale up` with the
// docker driver (the chaos worker in its own image, its ledger on a host mount) while a worker
// container is `docker kill`ed every 2s, the scaler is SIGKILLed three times and nats-server three
// times (each back on the same store and port); then prints the ledger as a table. Exits 1 when a job
// was lost, wrongly dead-lettered or left behind.
import { buildWorkerImage, chaosTable, runChaos } from "../test/support/chaos/harness.ts"

const image = "jetscale/chaos-worker:dev"
console.log(`building ${image}...`)
await buildWorkerImage(image)
const r = await runChaos({
  jobs: 10_000,
  driver: "docker",
  publishForMs: 90_000,
  workerKillEveryMs: 2000,
  killWorkersForMs: 100_000,
  scalerKillsAtMs: [15_000, 50_000, 80_000],
  scalerDownMs: 1000,
  natsKillsAtMs: [30_000, 65_000, 95_000],
  natsDownMs: 1500,
  settleTimeoutMs: 300_000,
  log: (line) => console.log(line)
}, { image })
console.log(`\n${chaosTable(r)}\n`)
const problems = [...r.lost.map((l) => `lost: ${l}`), ...r.wrongDlq.map((w) => `wrong DLQ entry: ${w}`)]
for (const p of problems.slice(0, 50)) console.log(p)
if (r.diagnostics) console.log(r.diagnostics)
process.exit(problems.length > 0 || r.leftInStream > 0 || r.replicas > 0 ? 1 : 0)
