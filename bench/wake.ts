// Wake from zero (not a test): publish one job at zero replicas and time it to its ack, with the
// path broken down as seen from NATS and Docker: the scaler's decision (its scale event), the
// container started (docker events; the process driver has no such step), the worker connected
// (its first state report), its first pull request, and the ack. For each kind of worker:
//   process / bundled   the demo worker's bundle (services/workers/demo/dist/main.js)
//   process / unbundled a worker written as the README shows, `import { runWorker } from "jetscale/worker"`
//   docker / bundled    the demo image jetscale/worker-demo:dev as it is (it starts from a snapshot)
//   docker / suspend    the same with `idle: suspend`: the wake thaws a frozen container
//   process / suspend   the bundled demo with `idle: suspend`: the wake sends SIGCONT
//   swarm / bundled     the demo image as for docker / bundled, as a Swarm service (a single-node
//                       swarm made for the run unless the engine is in one; left afterwards)
//   process / job       the bundled demo with `mode: job`: a worker process started for the job, gone after it
//   docker / job        the demo image with `mode: job`: a container started for the job, gone after it
//                       (in job mode every job pays this, not only a wake from zero)
// next to a bare `docker run --rm jetscale/worker-demo:dev node -e 0`. For the suspend kinds the
// "container started" step is the unpause (docker) and "worker connected" its first report after it.
// Run: npm run bench:coldstart   (BENCH_TRIALS=5 BENCH_KINDS=process-unbundled to narrow it)
import { jetstream, jetstreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { execFileSync } from "node:child_process"
import { mkdir, mkdtemp, symlink, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { streamName } from "../src/jetstream/names.ts"
import { docker, managedContainers } from "../test/support/docker.ts"
import { ensureSwarm, managedServices } from "../test/support/swarm.ts"
import { startNatsServer } from "../test/support/nats-server.ts"
import { scalerStatus } from "../test/support/scaler-status.ts"
import { workerPids } from "../test/support/processes.ts"
import { runCli, startScaler, writeDemoQueueConfig } from "../test/support/scaler-process.ts"
import { waitFor } from "../test/support/wait.ts"

export type WakeKind = "process-bundled" | "process-unbundled" | "docker-bundled" | "docker-suspend" | "process-suspend" | "swarm-bundled" | "process-job" | "docker-job"
export const wakeKinds: ReadonlyArray<WakeKind> = [
  "process-bundled", "process-unbundled", "docker-bundled", "docker-suspend", "process-suspend", "swarm-bundled", "process-job", "docker-job"
]
const image = "jetscale/worker-demo:dev"

/** Milliseconds from the publish to each step (undefined: the step does not exist for this kind). */
export interface WakeTrial {
  readonly decided: number
  readonly started: number | undefined
  readonly connected: number
  readonly firstFetch: number
  readonly acked: number
}

export interface WakeResult {
  readonly kind: WakeKind
  readonly trials: ReadonlyArray<WakeTrial>
}

export const quantile = (values: ReadonlyArray<number>, q: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!
}

/** A project of a user's: its own worker file importing `jetscale/worker`, the package installed by link. */
export const userWorker = async () => {
  const dir = await mkdtemp(join(tmpdir(), "jetscale-user-worker-"))
  await mkdir(join(dir, "node_modules"))
  await symlink(new URL("..", import.meta.url).pathname, join(dir, "node_modules", "jetscale"))
  await writeFile(join(dir, "package.json"), JSON.stringify({ name: "my-worker", type: "module", private: true }))
  await writeFile(join(dir, "worker.js"), [
    `import { runWorker } from "jetscale/worker"`,
    "",
    "await runWorker({",
    "  handler: async (job, ctx) => {",
    "    console.log(`job ${ctx.streamSeq}:`, job)",
    "  }",
    "})",
    ""
  ].join("\n"))
  return join(dir, "worker.js")
}

/** The first time something shows up on `subject` after `from`, as ms since `from`. */
const firstOn = (nc: NatsConnection, subject: string, from: () => number, accept: (body: string, subject: string) => boolean = () => true) => {
  let resolve: (ms: number) => void = () => {}
  const seen = new Promise<number>((r) => { resolve = r })
  const sub = nc.subscribe(subject, {
    callback: (_e, m) => {
      if (!accept(m.string(), m.subject)) return
      sub.unsubscribe()
      resolve(performance.now() - from())
    }
  })
  return { seen, cancel: () => sub.unsubscribe() }
}

const dockerStarted = async (queue: string, from: () => number, event: "start" | "unpause") => {
  const stream = await docker.getEvents({ filters: { type: ["container"], event: [event], label: [`io.jetscale.queue=${queue}`] } }) as NodeJS.ReadableStream & { destroy: () => void }
  const seen = new Promise<number>((resolve) => stream.once("data", () => resolve(performance.now() - from())))
  return { seen, cancel: () => stream.destroy() }
}

export const measureWake = async (kind: WakeKind, trials: number, log: (line: string) => void = () => {}): Promise<WakeResult> => {
  const driver = kind.startsWith("docker") ? "docker" : kind.startsWith("swarm") ? "swarm" : "process"
  // Docker and swarm kinds run the image as it is (its CMD starts the demo from its startup snapshot).
  const command = kind === "process-unbundled" ? ["node", await userWorker()] : driver !== "process" ? "image" as const : undefined
  const releaseSwarm = driver === "swarm" ? await ensureSwarm() : undefined
  const server = await startNatsServer()
  const nc = await connect({ servers: server.url })
  const queue = `wake-${kind}`
  const suspend = kind.endsWith("suspend")
  const config = await writeDemoQueueConfig({
    natsUrl: server.url, driver, queue, interval: "1s", ...(command ? { command } : {}),
    settings: {
      maxReplicas: 1, idleTimeout: "500ms", scaleDownDelay: "500ms", stopTimeout: "5s", idle: suspend ? "suspend" : "stop",
      ...(kind.endsWith("-job") ? { mode: "job" } : {})
    }
  })
  const scaler = startScaler(config)
  try {
    await scaler.waitForOutput("scaler up")
    const js = jetstream(nc)
    const jsm = await jetstreamManager(nc)
    const atZero = async () => {
      const s = await scalerStatus(nc, queue)
      if (suspend) {
        // The runtime must agree: docker lists the container as paused.
        const frozen = driver === "docker" ? (await managedContainers(queue)).every((c) => c.State === "paused") : true
        return s?.desired === 0 && s.running === 0 && s.suspending === 0 && s.suspended === 1 && frozen
      }
      const left = driver === "docker" ? (await managedContainers(queue)).length
        : driver === "swarm" ? (await managedServices(queue)).length
        : (await workerPids(queue)).length
      return s?.desired === 0 && s.running === 0 && left === 0
    }
    // A suspend kind needs its replica first: one job, then it is frozen at idle.
    if (suspend) await js.publish(`jobs.${queue}`, JSON.stringify({ id: "first" }))
    const results: Array<WakeTrial> = []
    for (let i = 0; i < trials; i++) {
      await waitFor("the queue to be at zero replicas", atZero, 30_000, 100)
      let t0 = 0
      const from = () => t0
      const decided = firstOn(nc, `jetscale.events.scale.${queue}`, from)
      // A thawed worker's first report after the wake says it runs again.
      const connected = firstOn(nc, `jetscale.workers.${queue}.>`, from, (body) => !suspend || body.includes(`"state":"running"`))
      const firstFetch = firstOn(nc, `$JS.API.CONSUMER.MSG.NEXT.${streamName(queue)}.>`, from)
      // The ack subject also carries NAKs and heartbeats (-NAK, +WPI): only +ACK of this trial's job
      // counts ($JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>...).
      // Its sequence is known before the publish: the ack may come before the publish's own reply.
      const seq = (await jsm.streams.info(streamName(queue))).state.last_seq + 1
      const acked = firstOn(nc, `$JS.ACK.${streamName(queue)}.>`, from, (body, subject) => body === "+ACK" && subject.split(".")[5] === String(seq))
      // A swarm task's container carries the queue's label too: its start is seen the same way.
      const started = driver !== "process" ? await dockerStarted(queue, from, suspend ? "unpause" : "start") : undefined
      const stateBefore = driver !== "process" ? (await managedContainers(queue)).map((c) => c.State).join(",") : ""
      await nc.flush()
      t0 = performance.now()
      const published = await js.publish(`jobs.${queue}`, JSON.stringify({ id: `wake-${i}` }))
      if (published.seq !== seq) throw new Error(`${kind} trial ${i + 1}: published as ${published.seq}, expected ${seq}`)
      const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error("no ack within 30s")), 30_000).unref())
      try {
        const ackedAt = await Promise.race([acked.seen, timeout])
        // Every step happened before the ack; one not seen within a second is a bug of this bench.
        const mark = async (what: string, m: { seen: Promise<number> }) => {
          const ms = await Promise.race([m.seen, new Promise<undefined>((r) => setTimeout(() => r(undefined), 1000).unref())])
          if (ms === undefined) throw new Error(`${kind} trial ${i + 1}: acked after ${ackedAt.toFixed(0)} ms, but no ${what} seen; docker state before the publish: ${stateBefore}; scaler:\n${scaler.output().split("\n").slice(-25).join("\n")}`)
          return ms
        }
        const trial: WakeTrial = {
          acked: ackedAt,
          decided: await mark("scale event", decided),
          started: started ? await mark("container start/unpause", started) : undefined,
          connected: await mark("worker report", connected),
          firstFetch: await mark("pull request", firstFetch)
        }
        results.push(trial)
        log(`  ${kind} trial ${i + 1}/${trials}: ${trial.acked.toFixed(0)} ms`)
      } finally {
        for (const w of [decided, connected, firstFetch, acked, started]) w?.cancel()
      }
    }
    return { kind, trials: results }
  } finally {
    await scaler.stop("SIGTERM")
    // `up` leaves docker and swarm workers running on exit (they'd be adopted); `down` drains them.
    if (driver !== "process") await runCli(["down", "--config", config])
    await nc.close()
    await server.stop()
    await releaseSwarm?.()
  }
}

/** `docker run --rm <worker image> node -e 0`, wall time in ms per trial. */
export const bareDockerRun = (trials: number): ReadonlyArray<number> =>
  Array.from({ length: trials }, () => {
    const t0 = performance.now()
    execFileSync("docker", ["run", "--rm", "--network", "host", image, "node", "-e", "0"], { stdio: "ignore" })
    return performance.now() - t0
  })

const ms = (v: number | undefined) => v === undefined ? "-" : `${Math.max(0, v).toFixed(0)} ms`

/** The breakdown as median step times: each column is the p50 of that step's time since the previous one. */
export const breakdownRows = (results: ReadonlyArray<WakeResult>) => results.map((r) => {
  const p50 = (f: (t: WakeTrial) => number | undefined) => {
    const values = r.trials.map(f).filter((v): v is number => v !== undefined)
    return values.length === 0 ? undefined : quantile(values, 0.5)
  }
  return `| ${r.kind} | ${ms(p50((t) => t.decided))} | ${ms(p50((t) => t.started === undefined ? undefined : t.started - t.decided))} | ${ms(p50((t) => t.connected - (t.started ?? t.decided)))} | ${ms(p50((t) => t.firstFetch - t.connected))} | ${ms(p50((t) => t.acked - t.firstFetch))} | ${ms(p50((t) => t.acked))} | ${ms(quantile(r.trials.map((t) => t.acked), 0.95))} |`
})

export const breakdownHeader = [
  "| worker | publish -> decision | -> container started | -> worker connected | -> first fetch | -> ack | wake to ack p50 | p95 |",
  "| --- | --- | --- | --- | --- | --- | --- | --- |"
]

if (import.meta.url === pathToFileURL(process.argv[1]!).href) {
  const trials = Number(process.env.BENCH_TRIALS ?? 20)
  const kinds = (process.env.BENCH_KINDS?.split(",") ?? wakeKinds) as ReadonlyArray<WakeKind>
  const results: Array<WakeResult> = []
  for (const kind of kinds) results.push(await measureWake(kind, trials, console.log))
  const bare = kinds.some((k) => k.startsWith("docker") || k.startsWith("swarm")) ? bareDockerRun(Math.min(trials, 10)) : []
  console.log(`\nwake from zero: publish of one job at zero replicas -> its ack (${trials} trials; step columns are medians)\n`)
  console.log([...breakdownHeader, ...breakdownRows(results)].join("\n"))
  if (bare.length > 0) console.log(`\nbare docker run --rm ${image} node -e 0: p50 ${ms(quantile(bare, 0.5))}, p95 ${ms(quantile(bare, 0.95))}`)
}
