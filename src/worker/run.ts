// The worker loop: takes jobs from the puller (free slots plus a small prefetch, see ./puller.ts;
// with JETSCALE_CONSUMERS, from a queue's priority levels, highest first) and runs them, one per
// handler call or in batches (./batch.ts); every job it holds, running, buffered or in a batch being
// filled, is heartbeated. A job-mode worker takes one job (or batch) and stops (./take.ts). Jobs
// not due yet are moved to the delayed stream (./delayed.ts).
// Two ways to end:
// - a scale-in drain (SIGUSR2, `drain()`): no new pulls; every job in flight or buffered, and any
//   the last open pull requests still deliver, runs to its end however long it takes (`jobTimeout`
//   bounds a job);
// - a shutdown (SIGTERM/SIGINT, `stop()`): the same, but within stopTimeout; jobs still running or
//   buffered then are handed back with a NAK.
// Then the acks are confirmed, the last job report goes out and the connection closes.
import { jetstream, type Consumer, type JsMsg } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { formatMillis } from "../config/format.ts"
import { jobReportSubject, workerControlSubject } from "../jetstream/names.ts"
import { connectOptions, endpointText } from "../nats/credentials.ts"
import { makeJobReportBatcher } from "../telemetry/job-report.ts"
import { makeAcker } from "./ack.ts"
import { fromSpec } from "./backoff.ts"
import { runBatch } from "./batch.ts"
import { batchLimits, type BatchLimits } from "./batch-options.ts"
import { makeDecoder } from "./decode.ts"
import { makeDelayedMover } from "./delayed.ts"
import { makeFailureHooks } from "./failures.ts"
import { errorText, runJob, send, type JobOutcome } from "./job.ts"
import { makeJobTimes } from "./job-times.ts"
import type { AnyWorkerOptions, BatchWorkerOptions, RunningWorker, WorkerOptions } from "./options.ts"
import { startPuller, type Puller } from "./puller.ts"
import { readWorkerSettings } from "./settings.ts"
import { startStateReports, type WorkerPhase } from "./state-report.ts"
import { takeOnce, takeUnit, type Admit } from "./take.ts"
import { recordStartup, startWorkerTracing, traceBatch, traceJob } from "./tracing.ts"

export type { AnyWorkerOptions, BatchWorkerOptions, RunningWorker, WorkerOptions } from "./options.ts"

const fetchExpiresMs = 2000
/** A buffered job waits about this long before it starts (see ./puller.ts). */
const prefetchWindowMs = 50
const maxPrefetch = 256
/** With levels: how long a free slot waits for a higher level's job on its way before a lower one's starts. */
const priorityGraceMs = 100
const reportEveryMs = 1000
/** The longest the connection's drain may take at the end (its last publishes flushed). */
const closeTimeoutMs = 5000

/** Connects and starts pulling; does not install signal handlers (see `runWorker`). */
export function startWorker<A>(options: BatchWorkerOptions<A>): Promise<RunningWorker>
export function startWorker<A>(options: WorkerOptions<A>): Promise<RunningWorker>
export function startWorker<A>(options: AnyWorkerOptions<A>): Promise<RunningWorker>
export async function startWorker<A>(options: AnyWorkerOptions<A>): Promise<RunningWorker> {
  const limits: BatchLimits = options.batch === undefined ? { size: 1, timeoutMs: 0 } : batchLimits(options.batch)
  const settings = readWorkerSettings(process.env, { ...options.settings, ...(options.concurrency ? { concurrency: options.concurrency } : {}) })
  const log = options.log ?? ((line: string) => console.log(`[${settings.instance}] ${line}`))
  const endpoint = { url: settings.natsUrl, ...(settings.credentials ? { credentials: settings.credentials } : {}) }
  const nc: NatsConnection = await connect({ ...connectOptions(endpoint), name: `jetscale-worker ${settings.instance}`, maxReconnectAttempts: -1 })
    .catch((e: unknown) => { throw new Error(`cannot connect to NATS at ${endpointText(endpoint)}: ${errorText(e)}`, { cause: e }) })
  const js = jetstream(nc)
  // What the first pull needs, at once: the consumer(s), the tracer and the payload decoder.
  const [consumers, tracing, decode] = await Promise.all([
    Promise.all(settings.consumers.map((name) => js.consumers.get(settings.stream, name) as Promise<Consumer>)), startWorkerTracing(settings), makeDecoder(options.schema)
  ])
  // Read when `get` found them (cached): each one's ack wait, max deliver and pending jobs.
  const infos = await Promise.all(consumers.map((c) => c.info(true)))
  const ackWaitMs = settings.ackWaitMs ?? Math.min(...infos.map((i) => (i.config.ack_wait ?? 30e9) / 1_000_000))
  const failures = makeFailureHooks(js, settings, new Map(infos.map((i) => [i.name, i.config.max_deliver ?? -1])))
  const heartbeatMs = Math.max(100, Math.floor(ackWaitMs / 3))
  const backoff = fromSpec(settings.backoff)
  const acker = makeAcker(nc, { confirmTimeoutMs: Math.min(2000, ackWaitMs), giveUpAfterMs: ackWaitMs })
  const delayed = makeDelayedMover({ js, queue: settings.queue, stream: settings.stream, ack: acker.ack, log })
  const shutdown = new AbortController()
  // A stop or a drain ends a job-mode worker's wait for its job.
  const taking = new AbortController()
  // Handler calls under way (a job, or a batch), and the jobs delivered and not yet settled.
  const units = new Set<Promise<void>>()
  let inFlight = 0
  // Delivered jobs until their ack or NAK goes out (running, or in a batch being filled): heartbeated.
  const held = new Set<JsMsg>()
  const counts = { acked: 0, naked: 0, deadLettered: 0 }
  const jobTimes = makeJobTimes()
  let phase: WorkerPhase = "running"
  const reports = startStateReports(nc, settings.queue, settings.instance, () => {
    const { meanJobMs, jobsDone } = jobTimes.read()
    return { state: phase, inFlight, ...(meanJobMs === undefined ? {} : { meanJobMs }), jobsDone }
  })
  // Job mode pulls exactly what it runs (./take.ts), so it has no puller.
  const puller = settings.mode === "job" ? undefined : startPuller(consumers, {
    concurrency: settings.concurrency * limits.size, inFlight: () => inFlight, windowMs: prefetchWindowMs, maxPrefetch, expiresMs: fetchExpiresMs, log,
    burst: settings.priorityBurst, graceMs: priorityGraceMs, pending: infos.map((i) => i.num_pending)
  })
  const heartbeats = setInterval(() => {
    for (const m of held) send(() => m.working())
    for (const m of puller?.buffered() ?? []) send(() => m.working())
  }, heartbeatMs)
  const jobReports = makeJobReportBatcher()
  const publishJobReport = () => {
    const body = jobReports.take()
    if (body !== undefined) send(() => nc.publish(jobReportSubject(settings.queue), body))
  }
  const jobReportTimer = setInterval(publishJobReport, reportEveryMs)

  /** Keeps a delivered job for the next unit, unless it is not due yet (then it is moved). */
  const admit: Admit = (m) => {
    if (delayed.moveIfEarly(m)) return false
    held.add(m)
    inFlight++
    return true
  }

  /** Counts and logs a settled job; `slotMs` is its share of the unit's run time. */
  const settled = (m: JsMsg, outcome: JobOutcome, seconds: number, slotMs: number) => {
    switch (outcome._tag) {
      case "acked":
        counts.acked++
        jobReports.add("succeeded", seconds)
        break
      case "dead-lettered":
        counts.deadLettered++
        log(`job ${m.seq} dead-lettered (${outcome.reason}): ${outcome.error}`)
        jobReports.add("dead_lettered", seconds, outcome.reason)
        break
      case "naked":
        counts.naked++
        log(`job ${m.seq} failed on delivery ${m.info.deliveryCount}${failures.isLast(m) ? " (the last)" : `, retry in ${outcome.delayMs}ms`}: ${outcome.error}`)
        jobReports.add("failed", seconds)
        break
      case "abandoned":
        // Handed back at once, for another worker; if even that fails, JetStream redelivers after ack_wait.
        send(() => m.nak())
        return
    }
    jobTimes.add(slotMs)
  }

  /** Runs a unit (one job, or one batch) in the background, in its trace span(s). */
  const start = (unit: ReadonlyArray<JsMsg>) => {
    const startedAt = performance.now()
    const jobOptions = {
      decode, backoff, release: (m: JsMsg) => void held.delete(m), instance: settings.instance,
      shutdown: shutdown.signal, timeoutMs: settings.jobTimeoutMs, failures, ack: acker.ack
    }
    const run: Promise<ReadonlyArray<JobOutcome>> = shutdown.signal.aborted
      // Filled as a stop ran out of time: handed back, the handler not called.
      ? Promise.resolve(unit.map(() => abandoned))
      : options.batch === undefined
      ? traceJob(tracing.tracer, settings, unit[0]!, () => runJob(unit[0]!, { ...jobOptions, handler: options.handler })).then((o) => [o])
      : traceBatch(tracing.tracer, settings, unit, () => runBatch(unit, { ...jobOptions, handler: options.handler, stream: settings.stream }))
    const task: Promise<void> = run
      .catch((e: unknown) => {
        log(`job ${unit.map((m) => m.seq).join(", ")}: ${errorText(e)}`)
        return unit.map(() => abandoned)
      })
      .then((outcomes) => {
        const ms = performance.now() - startedAt
        unit.forEach((m, i) => settled(m, outcomes[i] ?? abandoned, ms / 1000, ms / unit.length))
      })
      .finally(() => {
        for (const m of unit) held.delete(m)
        inFlight -= unit.length
        units.delete(task)
        puller?.finished(performance.now() - startedAt)
        if (phase === "draining") reports.changed()
      })
    units.add(task)
  }

  // Ends once the puller is stopped and has handed out everything its pulls delivered.
  const pullLoop = async (p: Puller) => {
    for (;;) {
      while (units.size >= settings.concurrency) await Promise.race(units)
      const unit = await takeUnit(p, limits, admit)
      if (unit === undefined) return
      start(unit)
    }
  }

  // Job mode: one unit; says why the worker then drains and stops.
  const jobModeRun = async (): Promise<string> => {
    const unit = await takeOnce(consumers, { limits, waitMs: settings.jobWaitMs, stop: taking.signal, admit, log })
    if (unit.length === 0) return `job mode: no job came within ${formatMillis(settings.jobWaitMs)}`
    start(unit)
    return `job mode: ${limits.size > 1 ? `a batch of ${unit.length}` : "its job"} taken`
  }

  recordStartup(tracing.tracer, settings, process.env.JETSCALE_TRACEPARENT)
  const consumerText = consumers.length === 1 ? `consumer ${settings.consumer}` : `consumers ${settings.consumers.join(", ")} (highest first, burst ${settings.priorityBurst})`
  log(`started: queue ${settings.queue}, stream ${settings.stream}, ${consumerText}, concurrency ${settings.concurrency}${options.batch === undefined ? "" : `, batches of up to ${limits.size} within ${formatMillis(limits.timeoutMs)}`}${settings.mode === "job" ? `, job mode (waits up to ${formatMillis(settings.jobWaitMs)})` : ""}`)
  const loop: Promise<string | void> = puller === undefined ? jobModeRun() : pullLoop(puller)
  const jobsDone = async () => {
    await loop
    while (units.size > 0 || delayed.pending().length > 0) await Promise.all([...units, ...delayed.pending()])
  }

  const beginDraining = (why: string) => {
    log(`draining (${why}): ${inFlight} job(s) in flight`)
    if (phase === "draining") return
    phase = "draining"
    puller?.stop()
    taking.abort()
    reports.changed()
  }

  // `idle: suspend`: cordoned (no new pulls; jobs in flight and buffered run to their end), then
  // reported `suspended` once idle with no pull open, when the scaler freezes it. A thaw resumes.
  let suspensions = 0
  const suspend = () => {
    if (phase !== "running" || puller === undefined) return
    phase = "suspending"
    const mine = ++suspensions
    puller.pause()
    log(`suspending (idle: suspend): ${inFlight} job(s) in flight`)
    reports.changed()
    // Only this suspension may end in `suspended`: a resume and a new suspend start another one.
    const current = () => phase === "suspending" && suspensions === mine
    void (async () => {
      const busy = () => inFlight > 0 || puller.buffered().length > 0 || puller.stats().openPulls > 0
      do {
        while (current() && busy()) await Promise.race([puller.pullsEnded(), ...units, new Promise((r) => setTimeout(r, 50))])
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
    puller?.resume()
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
    // With the server gone for good (it went down with the scaler) a drain would wait for it forever.
    const drained = await Promise.race([nc.drain().then(() => true, () => false), new Promise<boolean>((r) => setTimeout(() => r(false), closeTimeoutMs).unref())])
    if (!drained) await nc.close().catch(() => {})
    await tracing.shutdown()
    log(`stopped: ${counts.acked} acked, ${counts.naked} retried`)
  })()

  let draining: Promise<void> | undefined
  const drainAs = (why: string) => draining ??= (async () => {
    beginDraining(why)
    await jobsDone()
    await close()
  })()
  const drain = () => drainAs(`scale-in, no time limit${settings.jobTimeoutMs === undefined ? "" : `; each job within jobTimeout ${settings.jobTimeoutMs}ms`}`)

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
      await puller?.pullsEnded()
      const buffered = puller?.takeBuffered() ?? []
      log(`stop timeout: handing back ${inFlight} unfinished job(s)${buffered.length > 0 ? ` and ${buffered.length} not started` : ""}`)
      shutdown.abort()
      for (const m of buffered) send(() => m.nak())
      // Interrupted jobs settle at once (their handlers are not waited for), and a batch being filled
      // is handed back once the puller has ended; the bound is a safety net.
      await Promise.race([loop.then(() => Promise.all(units)), new Promise((r) => setTimeout(r, 1000))])
    }
    await close()
  })()

  if (settings.mode === "job") void loop.then((why) => drainAs(why || "job mode"))

  // Once closed by `close`, after its last steps (the traces flushed, the last line logged).
  const stopped = nc.closed().then(() => closing).then(() => undefined)
  return {
    settings, stop, drain, suspend, resume, phase: () => phase, stopped,
    stats: () => ({ ...counts, inFlight, acksResent: acker.stats().resent, prefetched: puller?.buffered().length ?? 0, delayed: delayed.moved() })
  }
}

const abandoned: JobOutcome = { _tag: "abandoned" }

/**
 * Runs a worker as the whole program: reads settings from the environment; shuts down on
 * SIGTERM/SIGINT (and when the parent scaler process is gone), drains for a scale-in on SIGUSR2;
 * then exits 0. SIGTSTP suspends it (`idle: suspend`), SIGCONT resumes it. In job mode it exits 0
 * once its one job (or batch) is settled, or none came within the wait. It exits 1 only when it
 * cannot run at all (bad settings or options, NATS or the consumer unreachable).
 */
export function runWorker<A>(options: BatchWorkerOptions<A>): Promise<void>
export function runWorker<A>(options: WorkerOptions<A>): Promise<void>
export function runWorker<A>(options: AnyWorkerOptions<A>): Promise<void>
export async function runWorker<A>(options: AnyWorkerOptions<A>): Promise<void> {
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
  // Done (a job mode's job, or a drain or stop however it came, e.g. the scaler's drain command over
  // NATS), whatever the handler's code left behind (timers, sockets): exit now.
  process.exit(0)
}
