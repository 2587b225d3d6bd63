// The worker loop: takes jobs from the puller (free slots plus a small prefetch, see ./puller.ts)
// and runs them; every job it holds, running or buffered, is heartbeated. Two ways to end:
// - a scale-in drain (SIGUSR2, `drain()`): no new pulls; every job in flight or buffered, and any
//   the last open pull requests still deliver, runs to its end however long it takes (`jobTimeout`
//   bounds a job);
// - a shutdown (SIGTERM/SIGINT, `stop()`): the same, but within stopTimeout; jobs still running or
//   buffered then are handed back with a NAK.
// Then the acks are confirmed, the last job report goes out and the connection closes.
import { jetstream, type Consumer, type JsMsg } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import type { Schema } from "effect"
import { makeAcker } from "./ack.ts"
import { makeDecoder } from "./decode.ts"
import { fromSpec } from "./backoff.ts"
import { jobReportSubject, workerControlSubject } from "../jetstream/names.ts"
import { makeJobReportBatcher } from "../telemetry/job-report.ts"
import { startPuller } from "./puller.ts"
import { makeFailureHooks } from "./failures.ts"
import { recordStartup, startWorkerTracing, traceJob } from "./tracing.ts"
import { errorText, runJob, send, type Handler, type JobOutcome } from "./job.ts"
import { readWorkerSettings, type WorkerSettings } from "./settings.ts"
import { startStateReports, type WorkerPhase } from "./state-report.ts"
import { connectOptions, endpointText } from "../nats/credentials.ts"

export interface WorkerOptions<A> {
  /** Payloads are JSON; with a schema they are decoded and checked before the handler runs. */
  readonly schema?: Schema.Codec<A, unknown>
  readonly handler: Handler<A>
  /** Jobs in flight at once; default JETSCALE_CONCURRENCY, else 1. */
  readonly concurrency?: number
  /** Settings that win over the environment (tests, running by hand). */
  readonly settings?: Partial<WorkerSettings>
  readonly log?: (line: string) => void
}

export interface RunningWorker {
  readonly settings: WorkerSettings
  /** Shutdown: resolves when every job has been acked, or handed back after stopTimeout, and NATS is closed. */
  readonly stop: () => Promise<void>
  /** Scale-in drain: stops pulling, lets every job in flight finish without a time limit, then closes. */
  readonly drain: () => Promise<void>
  /** `idle: suspend`: stops pulling and reports `suspended` once its jobs are done (SIGTSTP). */
  readonly suspend: () => void
  /** Pulls again after `suspend` (SIGCONT, sent on a thaw). */
  readonly resume: () => void
  /** running, draining, suspending or suspended. */
  readonly phase: () => WorkerPhase
  /** Resolves when the worker has stopped, for whatever reason. */
  readonly stopped: Promise<void>
  readonly stats: () => {
    readonly acked: number
    readonly naked: number
    readonly deadLettered: number
    readonly inFlight: number
    /** Acks sent again because the server did not confirm them (a reconnect). */
    readonly acksResent: number
    /** Jobs received ahead of a free slot, waiting to start (heartbeated meanwhile). */
    readonly prefetched: number
  }
}

const fetchExpiresMs = 2000
/** A buffered job waits about this long before it starts (see ./puller.ts). */
const prefetchWindowMs = 50
const maxPrefetch = 256
const reportEveryMs = 1000

/** Connects and starts pulling; does not install signal handlers (see `runWorker`). */
export const startWorker = async <A>(options: WorkerOptions<A>): Promise<RunningWorker> => {
  const settings = readWorkerSettings(process.env, { ...options.settings, ...(options.concurrency ? { concurrency: options.concurrency } : {}) })
  const log = options.log ?? ((line: string) => console.log(`[${settings.instance}] ${line}`))
  const endpoint = { url: settings.natsUrl, ...(settings.credentials ? { credentials: settings.credentials } : {}) }
  const nc: NatsConnection = await connect({ ...connectOptions(endpoint), name: `jetscale-worker ${settings.instance}`, maxReconnectAttempts: -1 })
    .catch((e: unknown) => { throw new Error(`cannot connect to NATS at ${endpointText(endpoint)}: ${errorText(e)}`, { cause: e }) })
  const js = jetstream(nc)
  // What the first pull needs, at once: the consumer, the tracer and the payload decoder.
  const [consumer, tracing, decode] = await Promise.all([
    js.consumers.get(settings.stream, settings.consumer) as Promise<Consumer>, startWorkerTracing(settings), makeDecoder(options.schema)
  ])
  const consumerConfig = (await consumer.info(true)).config
  const ackWaitMs = settings.ackWaitMs ?? (consumerConfig.ack_wait ?? 30e9) / 1_000_000
  const failures = makeFailureHooks(js, settings, consumerConfig.max_deliver ?? -1)
  const heartbeatMs = Math.max(100, Math.floor(ackWaitMs / 3))
  const backoff = fromSpec(settings.backoff)
  const acker = makeAcker(nc, { confirmTimeoutMs: Math.min(2000, ackWaitMs), giveUpAfterMs: ackWaitMs })
  const shutdown = new AbortController()
  const inFlight = new Set<Promise<JobOutcome>>()
  const counts = { acked: 0, naked: 0, deadLettered: 0 }
  let phase: WorkerPhase = "running"
  const reports = startStateReports(nc, settings.queue, settings.instance, () => ({ state: phase, inFlight: inFlight.size }))
  const puller = startPuller(consumer, {
    concurrency: settings.concurrency, inFlight: () => inFlight.size, windowMs: prefetchWindowMs, maxPrefetch, expiresMs: fetchExpiresMs, log
  })
  // Running jobs and buffered ones share one heartbeat timer.
  const running = new Set<JsMsg>()
  const heartbeats = setInterval(() => {
    for (const m of running) send(() => m.working())
    for (const m of puller.buffered()) send(() => m.working())
  }, heartbeatMs)
  const jobReports = makeJobReportBatcher()
  const publishJobReport = () => {
    const body = jobReports.take()
    if (body !== undefined) send(() => nc.publish(jobReportSubject(settings.queue), body))
  }
  const jobReportTimer = setInterval(publishJobReport, reportEveryMs)

  const countJob = (outcome: JobOutcome, startedAt: number) => {
    const seconds = (performance.now() - startedAt) / 1000
    if (outcome._tag === "acked") jobReports.add("succeeded", seconds)
    if (outcome._tag === "naked") jobReports.add("failed", seconds)
    if (outcome._tag === "dead-lettered") jobReports.add("dead_lettered", seconds, outcome.reason)
  }

  const start = (m: JsMsg) => {
    const startedAt = performance.now()
    running.add(m)
    const job = traceJob(tracing.tracer, settings, m, () =>
      runJob(m, {
        decode, handler: options.handler, backoff, release: (done) => running.delete(done), instance: settings.instance,
        shutdown: shutdown.signal, timeoutMs: settings.jobTimeoutMs, failures, ack: acker.ack
      }))
      .then((outcome) => {
        if (outcome._tag === "acked") counts.acked++
        if (outcome._tag === "dead-lettered") {
          counts.deadLettered++
          log(`job ${m.seq} dead-lettered (${outcome.reason}): ${outcome.error}`)
        }
        if (outcome._tag === "naked") {
          counts.naked++
          log(`job ${m.seq} failed on delivery ${m.info.deliveryCount}${failures.maxDeliver > 0 && m.info.deliveryCount >= failures.maxDeliver ? " (the last)" : `, retry in ${outcome.delayMs}ms`}: ${outcome.error}`)
        }
        // Handed back at once, for another worker; if even that fails, JetStream redelivers after ack_wait.
        if (outcome._tag === "abandoned") send(() => m.nak())
        countJob(outcome, startedAt)
        return outcome
      })
      .catch((e): JobOutcome => {
        log(`job ${m.seq}: ${errorText(e)}`)
        return { _tag: "abandoned" }
      })
      .finally(() => {
        running.delete(m)
        inFlight.delete(job)
        puller.finished(performance.now() - startedAt)
        if (phase === "draining") reports.changed()
      })
    inFlight.add(job)
  }

  // Ends once the puller is stopped and has handed out everything its pulls delivered.
  const pullLoop = async () => {
    for (;;) {
      while (inFlight.size >= settings.concurrency) await Promise.race(inFlight)
      const m = await puller.next()
      if (m === undefined) return
      start(m)
    }
  }

  recordStartup(tracing.tracer, settings, process.env.JETSCALE_TRACEPARENT)
  log(`started: queue ${settings.queue}, stream ${settings.stream}, consumer ${settings.consumer}, concurrency ${settings.concurrency}`)
  const loop = pullLoop()
  const jobsDone = (async () => {
    await loop
    while (inFlight.size > 0) await Promise.all(inFlight)
  })

  const beginDraining = (why: string) => {
    log(`draining (${why}): ${inFlight.size} job(s) in flight`)
    if (phase === "draining") return
    phase = "draining"
    puller.stop()
    reports.changed()
  }

  // `idle: suspend`: cordoned (no new pulls; jobs in flight and buffered run to their end), then
  // reported `suspended` once idle with no pull open, when the scaler freezes it. A thaw resumes.
  let suspensions = 0
  const suspend = () => {
    if (phase !== "running") return
    phase = "suspending"
    const mine = ++suspensions
    puller.pause()
    log(`suspending (idle: suspend): ${inFlight.size} job(s) in flight`)
    reports.changed()
    // Only this suspension may end in `suspended`: a resume and a new suspend start another one.
    const current = () => phase === "suspending" && suspensions === mine
    void (async () => {
      const busy = () => inFlight.size > 0 || puller.buffered().length > 0 || puller.stats().openPulls > 0
      do {
        while (current() && busy()) await Promise.race([puller.pullsEnded(), ...inFlight, new Promise((r) => setTimeout(r, 50))])
        // Quiet means its acks are confirmed too: none is left to resend after a thaw.
        await acker.settled()
        if (!current()) return
      } while (busy())
      phase = "suspended"
      log("suspended: no job, no pull open")
      reports.changed()
    })()
  }
  const resume = () => {
    if (phase !== "suspending" && phase !== "suspended") return
    phase = "running"
    puller.resume()
    log("resumed")
    reports.changed()
  }

  let closing: Promise<void> | undefined
  const close = () => closing ??= (async () => {
    reports.stop()
    clearInterval(heartbeats)
    clearInterval(jobReportTimer)
    publishJobReport()
    // A confirmation still outstanding after ack wait is moot: the job has been redelivered.
    await Promise.race([acker.settled(), new Promise((r) => setTimeout(r, ackWaitMs).unref())])
    await nc.drain().catch(() => nc.close())
    await tracing.shutdown()
    log(`stopped: ${counts.acked} acked, ${counts.naked} retried`)
  })()

  let draining: Promise<void> | undefined
  const drain = () => draining ??= (async () => {
    beginDraining(`scale-in, no time limit${settings.jobTimeoutMs === undefined ? "" : `; each job within jobTimeout ${settings.jobTimeoutMs}ms`}`)
    await jobsDone()
    await close()
  })()

  // The scaler's commands over NATS, for workers it cannot signal (another Swarm node): `drain` is
  // the scale-in drain of SIGUSR2, answered `ok` at once. Anything else is ignored.
  nc.subscribe(workerControlSubject(settings.queue, settings.instance), {
    callback: (err, m) => {
      if (err || m.data.length > 64 || m.string() !== "drain") return
      send(() => m.respond("ok"))
      void drain()
    }
  })

  let stopping: Promise<void> | undefined
  const stop = () => stopping ??= (async () => {
    beginDraining(`shutdown, up to ${settings.stopTimeoutMs}ms`)
    const timedOut = new Promise<false>((r) => setTimeout(() => r(false), settings.stopTimeoutMs).unref())
    if (!(await Promise.race([jobsDone().then(() => true), timedOut]))) {
      // Hand-backs wait for this worker's open pull requests to end (within the fetch expiry of
      // the stop's start): the server would otherwise deliver them straight back here.
      await puller.pullsEnded()
      const buffered = puller.takeBuffered()
      log(`stop timeout: handing back ${inFlight.size} unfinished job(s)${buffered.length > 0 ? ` and ${buffered.length} not started` : ""}`)
      shutdown.abort()
      for (const m of buffered) send(() => m.nak())
      // Interrupted jobs settle at once (their handlers are not waited for); the bound is a safety net.
      await Promise.race([Promise.all(inFlight), new Promise((r) => setTimeout(r, 1000))])
    }
    await close()
  })()

  const stopped = nc.closed().then(() => undefined)
  return { settings, stop, drain, suspend, resume, phase: () => phase, stopped, stats: () => ({ ...counts, inFlight: inFlight.size, acksResent: acker.stats().resent, prefetched: puller.buffered().length }) }
}

/**
 * Runs a worker as the whole program: reads settings from the environment; shuts down on
 * SIGTERM/SIGINT (and when the parent scaler process is gone), drains for a scale-in on SIGUSR2;
 * then exits 0. SIGTSTP suspends it (`idle: suspend`), SIGCONT resumes it.
 */
export const runWorker = async <A>(options: WorkerOptions<A>): Promise<void> => {
  let worker: RunningWorker
  try {
    worker = await startWorker(options)
  } catch (e) {
    console.error(`jetscale worker: ${errorText(e)}`)
    process.exit(1)
  }
  const shutdown = () => void worker.stop().then(() => process.exit(0))
  process.once("SIGTERM", shutdown)
  process.once("SIGINT", shutdown)
  process.once("SIGUSR2", () => void worker.drain().then(() => process.exit(0)))
  // `idle: suspend`: SIGTSTP cordons (the scaler then freezes the worker), SIGCONT resumes.
  process.on("SIGTSTP", () => worker.suspend())
  process.on("SIGCONT", () => worker.resume())
  const parent = worker.settings.parentPid
  if (parent !== undefined) {
    setInterval(() => { if (process.ppid !== parent) shutdown() }, 1000).unref()
  }
  await worker.stopped
}
