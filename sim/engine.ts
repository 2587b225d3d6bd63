// The simulation: runs one policy (the real `decide` of src/scaler/policy.ts) over a workload in
// 100 ms steps. Each step, in order: arrivals are queued, finished jobs free their slots, drained
// replicas with no job leave, waiting jobs start on ready replicas (FIFO, round-robin over free
// slots), the policy is evaluated when due (every `interval`, and at once on an arrival at zero
// replicas when `wakeOnArrival`), replicas are started (ready after `coldStart`) or drained to its
// decision, and jobs start again. A draining replica takes no new job and leaves when its jobs are done.
import { addArrivalSample, type ArrivalSample, observation, reportedInFlight, reportedMeanJobMs } from "../src/scaler/observe.ts"
import { decide, initialState, type Observation, type PolicyState } from "../src/scaler/policy.ts"
import type { ReportedState } from "../src/scaler/worker-states.ts"
import { type JobTimes, makeJobTimes } from "../src/worker/job-times.ts"
import type { SimPolicy } from "./presets.ts"
import { TICK_MS, type Workload } from "./workload.ts"

/** Time handed to `decide` is this epoch plus simulated time (2026-01-01T00:00Z), never 0. */
export const SIM_EPOCH_MS = Date.UTC(2026, 0, 1)

interface Replica {
  readonly instance: string
  readonly readyAt: number
  draining: boolean
  /** The jobs it runs (indices into the workload). */
  jobs: Array<number>
  /** The worker's own record of its run times (what its state reports carry). */
  readonly times: JobTimes
}

export interface ScaleChange {
  readonly atMs: number
  readonly from: number
  readonly to: number
  readonly kind: string
}

/** One sample per simulated second. */
export interface Samples {
  /** Jobs that arrived during the second. */
  readonly arrivals: Float64Array
  /** Jobs waiting or running at the second's end (jetscale's backlog: pending + ackPending). */
  readonly backlog: Float64Array
  /** Replicas that exist at the second's end (starting, ready or draining). */
  readonly replicas: Float64Array
}

export interface SimResult {
  readonly policy: string
  readonly durationMs: number
  /** Wait (arrival to start) of each started job, ms. */
  readonly waitsMs: Float64Array
  readonly done: number
  /** Jobs still waiting or running when the run ends. */
  readonly left: number
  /** Sum over time of the replicas that exist (starting, ready or draining), in replica-milliseconds. */
  readonly replicaMs: number
  readonly changes: ReadonlyArray<ScaleChange>
  /** For each wake from zero: ms from the first arrival with no replica to take it to the first job start. */
  readonly wakesMs: ReadonlyArray<number>
  readonly samples: Samples
}

/** Runs `policy` over `workload`; deterministic (no clock, no randomness beyond the workload's). */
export const simulate = (workload: Workload, policy: SimPolicy): SimResult => {
  const { arrivalMs, runMs, durationMs } = workload
  const config = policy.config
  const slots = config.concurrency ?? 1
  const seconds = Math.ceil(durationMs / 1000)
  const samples: Samples = { arrivals: new Float64Array(seconds), backlog: new Float64Array(seconds), replicas: new Float64Array(seconds) }
  const waits = new Float64Array(arrivalMs.length)
  const endMs = new Float64Array(arrivalMs.length)
  const changes: Array<ScaleChange> = []
  const wakesMs: Array<number> = []
  let now = 0
  let instances = 0
  const newReplica = (readyAt: number): Replica => ({
    instance: `r${++instances}`,
    readyAt,
    draining: false,
    jobs: [],
    times: makeJobTimes(() => SIM_EPOCH_MS + now)
  })

  let replicas: Array<Replica> = Array.from({ length: config.minReplicas }, () => newReplica(0))
  let state: PolicyState = initialState(config.minReplicas)
  let arrivals: ReadonlyArray<ArrivalSample> = []
  let queued = 0 // jobs [0, queued) have arrived
  let started = 0 // jobs [0, started) have started: the queue is [started, queued), FIFO
  let running = 0
  let done = 0
  let replicaMs = 0
  let nextEvalAt = Math.floor((workload.evalPhase * policy.intervalMs) / TICK_MS) * TICK_MS
  let wakeFrom: number | undefined // first arrival with no replica to take it, until a job starts
  let rr = 0

  const active = () => replicas.filter((r) => !r.draining)

  const startJobs = () => {
    const ready = replicas.filter((r) => !r.draining && r.readyAt <= now && r.jobs.length < slots)
    while (started < queued && ready.length > 0) {
      rr = (rr + 1) % ready.length
      const r = ready[rr]!
      waits[started] = now - arrivalMs[started]!
      endMs[started] = now + runMs[started]!
      r.jobs.push(started)
      started++
      running++
      if (wakeFrom !== undefined) {
        wakesMs.push(now - wakeFrom)
        wakeFrom = undefined
      }
      if (r.jobs.length >= slots) ready.splice(rr, 1)
    }
  }

  // What the scaler would observe: the consumer's counts, the oldest waiting job, and the workers'
  // reports, through the scaler's own code (../src/scaler/observe.ts).
  const observe = (): Observation => {
    const pending = queued - started
    const at = SIM_EPOCH_MS + now
    const backlog = { pending, ackPending: running, total: pending + running, entered: queued }
    arrivals = addArrivalSample(arrivals, backlog, at)
    const reports = new Map<string, ReportedState>(replicas.map((r) => {
      const { meanJobMs } = r.times.read()
      return [r.instance, { state: r.draining ? "draining" : "running", inFlight: r.jobs.length, ...(meanJobMs === undefined ? {} : { meanJobMs }), at }]
    }))
    return observation({
      backlog,
      oldestWaitingAt: pending > 0 ? SIM_EPOCH_MS + arrivalMs[started]! : undefined,
      now: at,
      inFlight: reportedInFlight(reports, active().map((r) => r.instance)),
      arrivals,
      meanJobMs: reportedMeanJobMs(reports)
    })
  }

  const converge = (to: number) => {
    const act = active()
    for (let i = act.length; i < to; i++) replicas.push(newReplica(now + policy.coldStartMs))
    if (to < act.length) {
      // drain the least busy: not yet ready first, then the fewest jobs
      const victims = [...act].sort((a, b) => Number(a.readyAt <= now) - Number(b.readyAt <= now) || a.jobs.length - b.jobs.length)
      for (const r of victims.slice(0, act.length - to)) r.draining = true
      replicas = replicas.filter((r) => !(r.draining && r.jobs.length === 0))
    }
  }

  const evaluate = () => {
    const decision = decide(observe(), state, config, SIM_EPOCH_MS + now)
    if (decision.replicas !== state.replicas) {
      changes.push({ atMs: now, from: state.replicas, to: decision.replicas, kind: decision.kind })
    }
    state = decision.state
    converge(decision.replicas)
  }

  /** Queues the arrivals of (now - 100 ms, now]; returns how many came. */
  const arrive = (): number => {
    const before = queued
    while (queued < arrivalMs.length && arrivalMs[queued]! <= now) queued++
    samples.arrivals[Math.floor(now / 1000)]! += queued - before
    if (queued > before && wakeFrom === undefined && active().length === 0) wakeFrom = arrivalMs[before]!
    return queued - before
  }

  /** Frees the slots of finished jobs; drained replicas with no job left leave. */
  const finishJobs = () => {
    for (const r of replicas) {
      const ended = r.jobs.filter((j) => endMs[j]! <= now)
      if (ended.length === 0) continue
      for (const j of ended) r.times.add(runMs[j]!)
      r.jobs = r.jobs.filter((j) => endMs[j]! > now)
      running -= ended.length
      done += ended.length
    }
    replicas = replicas.filter((r) => !(r.draining && r.jobs.length === 0))
  }

  const ticks = Math.ceil(durationMs / TICK_MS)
  for (let tick = 0; tick < ticks; tick++) {
    now = tick * TICK_MS
    const arrived = arrive()
    finishJobs()
    startJobs()
    const due = now >= nextEvalAt
    if (due || (policy.wakeOnArrival && state.replicas === 0 && arrived > 0)) {
      evaluate()
      startJobs()
      if (due) nextEvalAt += policy.intervalMs
    }
    replicaMs += replicas.length * TICK_MS
    if ((tick + 1) % (1000 / TICK_MS) === 0 || tick === ticks - 1) {
      const second = Math.floor(now / 1000)
      samples.backlog[second] = queued - started + running
      samples.replicas[second] = replicas.length
    }
  }
  return {
    policy: policy.name,
    durationMs,
    waitsMs: waits.subarray(0, started),
    done,
    left: queued - done,
    replicaMs,
    changes,
    wakesMs,
    samples
  }
}
