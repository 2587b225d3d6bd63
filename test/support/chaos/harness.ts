// A chaos run of jetscale against real parts: a restartable nats-server, the built CLI's `jetscale up`
// and the chaos worker (./worker.ts), fed a mix of jobs while workers, the scaler and nats-server are
// SIGKILLed on a schedule; then it waits for the queue to settle and checks every job against the
// worker's ledger and the DLQ. Used by test/e2e/chaos.test.ts (process driver) and bench/chaos.ts (docker).
import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { build } from "esbuild"
import { execFile, execFileSync } from "node:child_process"
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"
import { promisify } from "node:util"
import { listDeadLetters, type DeadLetterEntry } from "../../../src/dlq/read.ts"
import { dlqStream, streamName } from "../../../src/jetstream/names.ts"
import { managedContainers, docker } from "../docker.ts"
import { startRestartableNatsServer } from "../nats-server.ts"
import { workerPids } from "../processes.ts"
import { uniqueName } from "../queue.ts"
import { startScaler, writeConfig, type ScalerProcess } from "../scaler-process.ts"
import type { ChaosKind } from "./worker.ts"

const execFileAsync = promisify(execFile)

export type JobKind = ChaosKind | "non-json"

export interface ChaosPlan {
  readonly jobs: number
  readonly driver: "process" | "docker"
  /** Jobs are published evenly over this long. */
  readonly publishForMs: number
  /** A random worker is SIGKILLed this often, until `killWorkersForMs`. */
  readonly workerKillEveryMs: number
  readonly killWorkersForMs: number
  /** Each is a SIGKILL of the scaler, started again `scalerDownMs` later. */
  readonly scalerKillsAtMs: ReadonlyArray<number>
  readonly scalerDownMs: number
  /** Each is a SIGKILL of nats-server, started again on the same store and port `natsDownMs` later. */
  readonly natsKillsAtMs: ReadonlyArray<number>
  readonly natsDownMs: number
  /** How long the queue may take to settle after the last scheduled event. */
  readonly settleTimeoutMs: number
  readonly log: (line: string) => void
}

export const dlqReasonOf: Partial<Record<JobKind, string>> = { "fail-always": "max_deliveries", reject: "rejected", "non-json": "invalid_payload" }
const dlqErrorOf = (kind: JobKind, id: string): string | undefined =>
  kind === "fail-always" ? `chaos job ${id} fails always` : kind === "reject" ? `NonRetryableError: chaos job ${id} rejected` : kind === "non-json" ? "payload is not JSON" : undefined

/** The mix of the report: quick, slow, fail-once, fail-always, rejected and non-JSON jobs, by index. */
export const jobOf = (i: number): { readonly id: string; readonly kind: JobKind; readonly payload: string } => {
  const id = `j${i}`
  const r = (i * 37) % 100
  const kind: JobKind = r < 55 ? "quick" : r < 65 ? "slow" : r < 77 ? "fail-once" : r < 85 ? "fail-always" : r < 93 ? "reject" : "non-json"
  if (kind === "non-json") return { id, kind, payload: `not json: ${id}` }
  const sleepMs = kind === "slow" ? 300 + ((i * 7919) % 1200) : (i * 31) % 20
  return { id, kind, payload: JSON.stringify({ id, kind, sleepMs }) }
}

export interface ChaosResult {
  readonly jobs: number
  readonly succeeded: number
  /** Jobs whose handler succeeded more than once. */
  readonly duplicates: number
  readonly deadLettered: Readonly<Record<string, number>>
  /** DLQ entries that should not be there, or not like that (reason, error text, twice). */
  readonly wrongDlq: ReadonlyArray<string>
  /** Jobs neither in the ledger as succeeded nor in the DLQ. */
  readonly lost: ReadonlyArray<string>
  readonly leftInStream: number
  /** What the scalers' sweeps did with stuck messages: given back to the queue, or removed as already dead-lettered. */
  readonly givenBack: number
  readonly alreadyDead: number
  readonly replicas: number
  readonly seconds: number
  readonly events: ReadonlyArray<string>
  /** Why it did not settle, and what the scalers printed last, when something is off. */
  readonly diagnostics: string
}

/** The worker bundle (one file, for `node` or an image). */
export const bundleWorker = async (outDir: string): Promise<string> => {
  const outfile = join(outDir, "chaos-worker.js")
  await build({
    entryPoints: [resolve("test/support/chaos/worker.ts")], outfile, bundle: true, platform: "node", target: "node24", format: "esm",
    logLevel: "warning", banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" }
  })
  return outfile
}

/** Builds image `tag` holding the worker bundle, on the base `npm run images` uses (offline when no registry answers). */
export const buildWorkerImage = async (tag: string): Promise<void> => {
  const context = mkdtempSync(join(tmpdir(), "jetscale-chaos-image-"))
  try {
    await bundleWorker(context)
    const base = execFileSync("bash", ["scripts/build-images.sh", "--print-base"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim().split("\n").at(-1)!
    writeFileSync(join(context, "Dockerfile"), [
      `FROM ${base}`,
      `LABEL org.opencontainers.image.title="jetscale-chaos-worker" org.opencontainers.image.vendor="jetscale"`,
      "WORKDIR /app",
      "COPY chaos-worker.js /app/chaos-worker.js",
      "USER 1000:1000",
      "ENTRYPOINT []",
      `CMD ["node", "/app/chaos-worker.js"]`
    ].join("\n"))
    // The legacy builder, as scripts/build-images.sh uses: it never pulls a base that is present locally.
    execFileSync("docker", ["build", "-q", "-t", tag, context], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, DOCKER_BUILDKIT: "0" } })
  } finally {
    rmSync(context, { recursive: true, force: true })
  }
}

const queueYaml = (plan: ChaosPlan, queue: string, ledgerDir: string, worker: { bundle?: string; image?: string }) => `
  ${queue}:
${plan.driver === "process"
    ? `    command: ["${process.execPath}", "${worker.bundle}"]\n    env: { CHAOS_LEDGER: "${join(ledgerDir, "ledger.txt")}" }`
    : `    image: ${worker.image}\n    mounts: ["${ledgerDir}:/ledger:rw"]\n    env: { CHAOS_LEDGER: /ledger/ledger.txt }`}
    maxReplicas: 4
    concurrency: 8
    maxDeliver: 6
    ackWait: 4s
    backoff: [200ms, 400ms, 800ms]
    targetPending: 10
    idleTimeout: 3s
    scaleDownDelay: 1s
    stopTimeout: 5s
`

const parseLedger = (text: string) => {
  const ok = new Map<string, number>()
  for (const line of text.split("\n")) {
    const [outcome, id] = line.split(" ")
    if (outcome === "ok" && id) ok.set(id, (ok.get(id) ?? 0) + 1)
  }
  return ok
}

const idOfDeadLetter = (e: DeadLetterEntry): string => /\bj\d+\b/.exec(new TextDecoder().decode(e.data))?.[0] ?? `?dlq${e.dlqSeq}`

/** Publishes with retries (the same Nats-Msg-Id each time) until JetStream acknowledges it or `deadline`. */
const publishJob = async (js: JetStreamClient, subject: string, job: ReturnType<typeof jobOf>, deadline: number): Promise<boolean> => {
  while (Date.now() < deadline) {
    try {
      await js.publish(subject, job.payload, { msgID: job.id, timeout: 2000 })
      return true
    } catch {
      await sleep(200)
    }
  }
  return false
}

export const runChaos = async (plan: ChaosPlan, worker: { readonly bundle?: string; readonly image?: string }): Promise<ChaosResult> => {
  const started = Date.now()
  const at = () => ((Date.now() - started) / 1000).toFixed(1)
  const events: Array<string> = []
  const event = (what: string) => {
    events.push(`${at()}s ${what}`)
    plan.log(`chaos ${at()}s: ${what}`)
  }
  const nats = await startRestartableNatsServer()
  const ledgerDir = mkdtempSync(join(tmpdir(), "jetscale-chaos-ledger-"))
  chmodSync(ledgerDir, 0o777)
  writeFileSync(join(ledgerDir, "ledger.txt"), "")
  chmodSync(join(ledgerDir, "ledger.txt"), 0o666)
  const queue = uniqueName("chaos")
  const stream = streamName(queue)
  const config = await writeConfig(`
nats: { url: "${nats.url}" }
runtime: { driver: ${plan.driver}, docker: { network: host } }
scaler: { interval: 500ms }
queues:
${queueYaml(plan, queue, ledgerDir, worker)}`)
  const nc: NatsConnection = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100, name: "chaos" })
  const js = jetstream(nc)
  const jsm = await jetstreamManager(nc)
  const scalers: Array<ScalerProcess> = []
  let scaler = startScaler(config)
  scalers.push(scaler)
  const timers: Array<NodeJS.Timeout> = []
  // Kills with their restarts; awaited before cleaning up, so nothing is started again after it.
  const steps: Array<Promise<void>> = []
  try {
    await scaler.waitForOutput("scaler up", 30_000)
    event(`scaler up; queue ${queue}, ${plan.jobs} jobs over ${plan.publishForMs / 1000}s, driver ${plan.driver}`)
    const t0 = Date.now()
    const schedule = (ms: number, f: () => Promise<void>) =>
      timers.push(setTimeout(() => steps.push(f().catch((e) => event(`scheduled step failed: ${String(e)}`))), ms))
    for (const ms of plan.scalerKillsAtMs) {
      schedule(ms, async () => {
        await scaler.stop("SIGKILL")
        event("scaler SIGKILLed")
        await sleep(plan.scalerDownMs)
        scaler = startScaler(config)
        scalers.push(scaler)
        event("scaler started again")
      })
    }
    for (const ms of plan.natsKillsAtMs) {
      schedule(ms, async () => {
        await nats.kill()
        event("nats-server SIGKILLed")
        await sleep(plan.natsDownMs)
        await nats.restart()
        event("nats-server started again (same store and port)")
      })
    }
    let workerKills = 0
    const killer = setInterval(() => void (async () => {
      if (Date.now() - t0 > plan.killWorkersForMs) return
      if (plan.driver === "process") {
        const pids = await workerPids(queue)
        const pid = pids[Math.floor(Math.random() * pids.length)]
        if (pid !== undefined) {
          try { process.kill(pid, "SIGKILL"); workerKills++ } catch { /* already gone */ }
        }
      } else {
        const running = (await managedContainers(queue)).filter((c) => c.State === "running")
        const c = running[Math.floor(Math.random() * running.length)]
        if (c) await execFileAsync("docker", ["kill", c.Id], { timeout: 10_000 }).then(() => workerKills++, () => {})
      }
    })().catch(() => {}), plan.workerKillEveryMs)
    timers.push(killer)

    // Publishing, evenly over publishForMs; each job retried through the nats-server restarts.
    const publishDeadline = t0 + plan.publishForMs + 60_000
    const published: Array<Promise<boolean>> = []
    for (let i = 0; i < plan.jobs; i++) {
      const due = t0 + (i * plan.publishForMs) / plan.jobs
      if (due > Date.now()) await sleep(due - Date.now())
      published.push(publishJob(js, `jobs.${queue}`, jobOf(i), publishDeadline))
    }
    const acked = await Promise.all(published)
    const unpublished = acked.filter((a) => !a).length
    event(`published ${plan.jobs - unpublished} jobs${unpublished ? `, ${unpublished} never acknowledged` : ""}`)
    const lastEvent = Math.max(plan.killWorkersForMs, plan.publishForMs, ...plan.scalerKillsAtMs.map((m) => m + plan.scalerDownMs + 500), ...plan.natsKillsAtMs.map((m) => m + plan.natsDownMs + 500))
    if (Date.now() < t0 + lastEvent) await sleep(t0 + lastEvent - Date.now())
    event(`chaos over (${workerKills} worker kills); waiting for the queue to settle`)

    const replicas = async () => plan.driver === "process" ? (await workerPids(queue)).length : (await managedContainers(queue)).length
    const ids = Array.from({ length: plan.jobs }, (_, i) => jobOf(i))
    const snapshot = async () => {
      const ok = parseLedger(readFileSync(join(ledgerDir, "ledger.txt"), "utf8"))
      const dead = await listDeadLetters(jsm, queue, 1_000_000, { timeoutMs: 30_000 })
      const info = await jsm.streams.info(stream)
      const consumer = await jsm.consumers.info(stream, "workers")
      return { ok, dead, left: info.state.messages, consumer, replicas: await replicas() }
    }
    const settleDeadline = Date.now() + plan.settleTimeoutMs
    let s = await snapshot()
    let drained = false
    for (;;) {
      const deadIds = new Set(s.dead.map(idOfDeadLetter))
      const accounted = ids.every((j) => s.ok.has(j.id) || deadIds.has(j.id))
      const empty = accounted && s.left === 0 && s.consumer.num_pending === 0 && s.consumer.num_ack_pending === 0
      if (empty && !drained) event(`every job done or dead-lettered, work stream empty (${s.replicas} replica(s) left)`)
      drained ||= empty
      if (empty && s.replicas === 0) break
      if (Date.now() > settleDeadline) break
      await sleep(2000)
      s = await snapshot().catch(() => s)
    }
    event(`settled? stream ${s.left} left, consumer pending ${s.consumer.num_pending} ackPending ${s.consumer.num_ack_pending}, replicas ${s.replicas}`)

    const byId = new Map<string, Array<DeadLetterEntry>>()
    for (const e of s.dead) byId.set(idOfDeadLetter(e), [...byId.get(idOfDeadLetter(e)) ?? [], e])
    const wrongDlq: Array<string> = []
    const lost: Array<string> = []
    const deadLettered: Record<string, number> = {}
    for (const e of s.dead) deadLettered[e.reason] = (deadLettered[e.reason] ?? 0) + 1
    for (const j of ids) {
      const entries = byId.get(j.id) ?? []
      byId.delete(j.id)
      const reason = dlqReasonOf[j.kind]
      const describe = (e: DeadLetterEntry) => `${j.id} (${j.kind}): DLQ ${e.dlqSeq} ${e.reason}, deliveries ${e.deliveries}, "${e.error}"`
      if (reason === undefined) {
        for (const e of entries) wrongDlq.push(`should have succeeded: ${describe(e)}${s.ok.has(j.id) ? ", ran to completion too" : ""}`)
        if (!s.ok.has(j.id) && entries.length === 0) lost.push(`${j.id} (${j.kind})`)
      } else {
        if (entries.length === 0) lost.push(`${j.id} (${j.kind})`)
        if (entries.length > 1) wrongDlq.push(`${entries.length} DLQ entries: ${entries.map(describe).join("; ")}`)
        for (const e of entries) {
          if (e.reason !== reason || !e.error.includes(dlqErrorOf(j.kind, j.id)!)) wrongDlq.push(`expected ${reason} "${dlqErrorOf(j.kind, j.id)}": ${describe(e)}`)
        }
      }
    }
    for (const [id, entries] of byId) wrongDlq.push(`not a job of this run: ${id}, DLQ ${entries.map((e) => e.dlqSeq).join(", ")}`)

    const scalerLines = (re: RegExp) => scalers.reduce((n, x) => n + x.output().split("\n").filter((l) => !l.includes(`[${queue}/`) && re.test(l)).length, 0)
    let diagnostics = ""
    if (s.left > 0 || lost.length > 0 || wrongDlq.length > 0 || s.replicas > 0) {
      const leftovers: Array<string> = []
      for (let seq = 1, n = 0; n < 20; n++) {
        const m = await jsm.streams.getMessage(stream, { seq, next_by_subj: ">" } as unknown as { seq: number }).catch(() => null)
        if (!m) break
        leftovers.push(`seq ${m.seq}: ${new TextDecoder().decode(m.data).slice(0, 80)}`)
        seq = m.seq + 1
      }
      const adv = await jsm.streams.info("JETSCALE_ADVISORIES").catch(() => undefined)
      diagnostics = [
        `consumer: delivered ${s.consumer.delivered.stream_seq}, ack floor ${s.consumer.ack_floor.stream_seq}, pending ${s.consumer.num_pending}, ackPending ${s.consumer.num_ack_pending}, redelivered ${s.consumer.num_redelivered}`,
        `advisories stored: ${adv?.state.messages}; DLQ: ${(await jsm.streams.info(dlqStream)).state.messages}`,
        ...leftovers,
        "--- last scaler output ---",
        ...scalers.flatMap((x, i) => [`[scaler ${i}]`, ...x.output().split("\n").filter((l) => !l.includes(`[${queue}/`) && /dead-letter|sweep|stuck|given back|DLQ|WARN|ERROR/.test(l)).slice(-40)])
      ].join("\n")
    }
    return {
      jobs: plan.jobs,
      succeeded: s.ok.size,
      duplicates: [...s.ok.values()].filter((n) => n > 1).length,
      deadLettered,
      wrongDlq,
      lost,
      leftInStream: s.left,
      givenBack: scalerLines(/was stuck .*given back/),
      alreadyDead: scalerLines(/is already in the DLQ; removed/),
      replicas: s.replicas,
      seconds: (Date.now() - started) / 1000,
      events,
      diagnostics
    }
  } finally {
    for (const t of timers) clearTimeout(t)
    await Promise.all(steps)
    for (const x of scalers) await x.stop("SIGKILL")
    if (plan.driver === "process") for (const pid of await workerPids(queue)) { try { process.kill(pid, "SIGKILL") } catch { /* gone */ } }
    else for (const c of await managedContainers(queue)) await docker.getContainer(c.Id).remove({ force: true }).catch(() => {})
    await nc.close().catch(() => {})
    await nats.stop()
    rmSync(ledgerDir, { recursive: true, force: true })
  }
}

/** The ledger as a table, one row per measure. */
export const chaosTable = (r: ChaosResult): string => {
  const rows: Array<[string, string]> = [
    ["jobs", String(r.jobs)],
    ["succeeded", String(r.succeeded)],
    ["duplicates (ran more than once)", String(r.duplicates)],
    ...Object.entries(r.deadLettered).sort().map(([k, v]): [string, string] => [`dead-lettered: ${k}`, String(v)]),
    ["wrong DLQ entries", String(r.wrongDlq.length)],
    ["lost", String(r.lost.length)],
    ["left in stream", String(r.leftInStream)],
    ["stuck messages given back (sweep)", String(r.givenBack)],
    ["stuck, already dead-lettered, removed", String(r.alreadyDead)],
    ["replicas at the end", String(r.replicas)],
    ["time", `${r.seconds.toFixed(1)} s`]
  ]
  const w = Math.max(...rows.map(([k]) => k.length))
  return ["| measure | value |", "| --- | ---: |", ...rows.map(([k, v]) => `| ${k.padEnd(w)} | ${v} |`)].join("\n")
}
