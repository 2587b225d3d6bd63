// The whole system under the repository's nats.conf: `jetscale up` as the scaler user starts
// workers that connect as their queue's worker user (never with the scaler's password), jobs come from the
// publisher user, and the retry, dead-letter and metrics paths all work within those grants.
import { readFile } from "node:fs/promises"
import type { NatsConnection } from "@nats-io/transport-node"
import { jetstreamManager } from "@nats-io/jetstream"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { connectAs, startStackNatsServer, type StackNatsServer } from "../support/nats-server.ts"
import { workerPids } from "../support/processes.ts"
import { queueWorkerCredentials } from "../../src/nats/worker-credentials.ts"
import { testQueue, uniqueName } from "../support/queue.ts"
import { useScalers } from "../support/scaler-fixture.ts"
import { runCli, writeConfig } from "../support/scaler-process.ts"
import { waitFor } from "../support/wait.ts"

let server: StackNatsServer
let admin: NatsConnection
const scalers = useScalers()
// The server's accounts are generated for the queue beforehand, as `jetscale nats-accounts` does.
const lpQueue = testQueue("lp")

beforeAll(async () => {
  server = await startStackNatsServer([lpQueue])
  admin = await connectAs(server.url, "scaler", { ...server.passwords })
})
afterAll(async () => {
  await admin?.close()
  await server?.stop()
})

const config = (queue: string, nats = `{ url: "${server.url}", user: scaler, workerUser: worker }`) => writeConfig(`
nats: ${nats}
runtime: { driver: process }
scaler: { interval: 500ms }
queues:
  ${queue}:
    command: [node, services/workers/demo/dist/main.js]
    maxReplicas: 1
    idleTimeout: 2s
    scaleDownDelay: 1s
    stopTimeout: 2s
    maxDeliver: 2
    backoff: [200ms]
`)

const scalerEnv = () => ({ NATS_PASSWORD: server.passwords.JETSCALE_SCALER_PASSWORD, JETSCALE_WORKER_PASSWORD: server.passwords.JETSCALE_WORKER_PASSWORD })
const publisherEnv = () => ({ NATS_USER: "publisher", NATS_PASSWORD: server.passwords.JETSCALE_PUBLISHER_PASSWORD })

describe("least privilege end to end (process driver)", () => {
  it("jobs published as `publisher` run in workers connected as their queue's worker user; failures retry and dead-letter", async () => {
    const queue = lpQueue.name
    const path = await config(queue)
    const scaler = scalers.up(path, scalerEnv())
    await scaler.waitForOutput(`queue ${queue}`)

    for (const payload of [{ sleepMs: 10 }, { fail: "once" }, { fail: "permanent" }, { fail: "always" }]) {
      const r = await runCli(["enqueue", queue, JSON.stringify(payload), "--config", path], publisherEnv())
      expect(r.stderr).toBe("")
      expect(r.code).toBe(0)
    }

    const pids = await waitFor("a worker", async () => { const p = await workerPids(queue); return p.length > 0 ? p : undefined }, 20_000)
    const env = (await readFile(`/proc/${pids[0]}/environ`, "utf8")).split("\0")
    const own = queueWorkerCredentials({ user: "worker", password: server.passwords.JETSCALE_WORKER_PASSWORD }, queue)
    expect(env).toContain(`NATS_USER=worker-${queue}`)
    expect(env).toContain(`NATS_PASSWORD=${own.password}`)
    // Neither the scaler's password nor the secret the queues' passwords come from reach a worker.
    expect(env.join("\n")).not.toContain(server.passwords.JETSCALE_SCALER_PASSWORD)
    expect(env.join("\n")).not.toContain(server.passwords.JETSCALE_WORKER_PASSWORD)

    // `jetscale status` asks the running scaler on its own inbox (allow_responses in nats.conf)
    const status = await runCli(["status", "--json", "--config", path], { NATS_PASSWORD: server.passwords.JETSCALE_SCALER_PASSWORD })
    expect(status.stderr).toBe("")
    expect(JSON.parse(status.stdout).queues[0].desired).not.toBeNull()

    const jsm = await jetstreamManager(admin)
    const stream = `JETSCALE_${queue.toUpperCase().replaceAll("-", "_")}`
    await waitFor("the queue emptied and two jobs dead-lettered", async () =>
      (await jsm.streams.info(stream)).state.messages === 0 &&
      (await jsm.streams.info("JETSCALE_DLQ", { subjects_filter: `jetscale.dlq.${queue}` })).state.subjects?.[`jetscale.dlq.${queue}`] === 2, 30_000)

    const dlq = await runCli(["dlq", "list", queue, "--json", "--config", path], { NATS_PASSWORD: server.passwords.JETSCALE_SCALER_PASSWORD })
    expect(dlq.code).toBe(0)
    const reasons = (JSON.parse(dlq.stdout) as { deadLetters: Array<{ reason: string }> }).deadLetters.map((e) => e.reason).sort()
    expect(reasons).toEqual(["max_deliveries", "rejected"])

    await waitFor("scaled back to zero", async () => (await workerPids(queue)).length === 0, 20_000)
    expect(scaler.output()).not.toMatch(/Permissions Violation|Authorization Violation/i)
  })

  it("refuses a scaler user without worker credentials, and a user without its password", async () => {
    const queue = uniqueName("lp")
    const noWorker = await runCli(["up", "--config", await config(queue, `{ url: "${server.url}", user: scaler }`)], { NATS_PASSWORD: "x" })
    expect(noWorker.code).toBe(1)
    expect(noWorker.stderr).toContain(`nats.workerUser: required when the scaler connects as user "scaler": workers get their own credentials, never the scaler's`)

    const same = await runCli(["up", "--config", await config(queue, `{ url: "${server.url}", user: scaler, workerUser: scaler }`)], { NATS_PASSWORD: "x", JETSCALE_WORKER_PASSWORD: "x" })
    expect(same.stderr).toContain(`nats.workerUser: must differ from the scaler's user ("scaler")`)

    const noPassword = await runCli(["status", "--config", await config(queue)], { NATS_PASSWORD: "", JETSCALE_WORKER_PASSWORD: "" })
    expect(noPassword.code).toBe(1)
    expect(noPassword.stderr).toContain(`nats.user: user "scaler" needs its password in the environment variable NATS_PASSWORD (never in this file)`)
    const noWorkerPassword = await runCli(["up", "--config", await config(queue)], { NATS_PASSWORD: "x", JETSCALE_WORKER_PASSWORD: "" })
    expect(noWorkerPassword.stderr).toContain(`nats.workerUser: user "worker" needs its password in the environment variable JETSCALE_WORKER_PASSWORD (never in this file)`)

    const wrong = await runCli(["status", "--config", await config(queue)], { NATS_PASSWORD: "wrong", JETSCALE_WORKER_PASSWORD: "x" })
    expect(wrong.code).toBe(1)
    expect(wrong.stderr).toMatch(new RegExp(`cannot connect to NATS at ${server.url.replaceAll(".", "\\.")} as user scaler: .*Authorization Violation`, "i"))
    // Five CLI runs: room for a loaded CI machine (one CI run took over 60 s here once).
  }, 150_000)
})
