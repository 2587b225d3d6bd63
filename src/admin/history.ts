// The dashboard's memory: every 5 s a sample of each running queue's status (backlog, in flight,
// replicas running / draining / desired, jobs/s) into a 15-minute ring, and the finished jobs the
// workers report on `jetscale.metrics.jobs.<queue>` counted per second for jobs/s. Only queues of
// the running config are kept: one removed by a live reload is dropped at the next sample, so
// memory stays bounded by the queues and the window. State in one Ref; times from Clock.
import { Clock, Context, Effect, Layer, Ref, Schedule } from "effect"
import { LiveConfig } from "../config/live.ts"
import { Nats } from "../nats/connection.ts"
import { onEachMessage } from "../nats/subscription.ts"
import type { QueueStatus } from "../scaler/reconcile.ts"
import { Scaler } from "../scaler/scaler.ts"
import { parseJobReport, type JobReportEntry } from "../telemetry/job-report.ts"
import { addJobs, emptyJobCounts, emptyRing, jobRate, pushRing, type JobCounts, type JobRate, type Ring } from "./series.ts"

export const sampleEveryMs = 5000
export const windowMs = 15 * 60_000
const samplesKept = windowMs / sampleEveryMs

export interface Sample {
  /** ms epoch. */
  readonly at: number
  /** pending + ackPending; null while the scaler has not read the consumer yet. */
  readonly backlog: number | null
  readonly inFlight: number | null
  readonly running: number
  readonly draining: number
  readonly desired: number
  readonly jobsPerSecond: number
}

interface Tracked {
  readonly samples: Ring<Sample>
  readonly jobs: JobCounts
}

export type HistoryState = ReadonlyMap<string, Tracked>

export interface QueueHistory {
  /** Oldest first, none older than the window. */
  readonly samples: ReadonlyArray<Sample>
  readonly rate: JobRate
}

const track = (state: HistoryState, queue: string, now: number): Tracked =>
  state.get(queue) ?? { samples: emptyRing(samplesKept), jobs: emptyJobCounts(now) }

/** A sample of each queue in `statuses` (the running ones); every other queue is forgotten. */
export const recordSample = (state: HistoryState, statuses: ReadonlyArray<QueueStatus>, now: number): HistoryState =>
  new Map(statuses.map((s) => {
    const t = track(state, s.name, now)
    const backlog = s.pending === null || s.ackPending === null ? null : s.pending + s.ackPending
    const sample: Sample = {
      at: now, backlog, inFlight: s.ackPending, running: s.running, draining: s.draining, desired: s.desired, jobsPerSecond: jobRate(t.jobs, now).done
    }
    return [s.name, { ...t, samples: pushRing(t.samples, sample) }]
  }))

/** Adds a job report's entries to the queue's counts (a queue not sampled yet starts being tracked). */
export const recordJobs = (state: HistoryState, queue: string, entries: ReadonlyArray<JobReportEntry>, now: number): HistoryState => {
  const done = entries.reduce((n, e) => n + e.count, 0)
  const failed = entries.reduce((n, e) => n + (e.outcome === "succeeded" ? 0 : e.count), 0)
  const t = track(state, queue, now)
  return new Map(state).set(queue, { ...t, jobs: addJobs(t.jobs, now, done, failed) })
}

/** A queue's history as of `now`: samples within the window and the current rate. */
export const historyOf = (t: Tracked, now: number): QueueHistory => ({
  samples: t.samples.items.filter((s) => s.at > now - windowMs),
  rate: jobRate(t.jobs, now)
})

export class History extends Context.Service<History, {
  /** Every tracked queue's history, by name. */
  readonly all: Effect.Effect<ReadonlyMap<string, QueueHistory>>
}>()("jetscale/DashboardHistory") {}

const jobsSubjectPrefix = "jetscale.metrics.jobs."

/** Samples until the layer is released; needs the Scaler, the running config and NATS. */
export const layer = Layer.effect(History, Effect.gen(function*() {
  const scaler = yield* Scaler
  const live = yield* LiveConfig
  const { nc } = yield* Nats
  const state = yield* Ref.make<HistoryState>(new Map())

  const sample = Effect.gen(function*() {
    const statuses = yield* scaler.status
    const running = new Set((yield* live.queues).map((q) => q.name))
    const now = yield* Clock.currentTimeMillis
    yield* Ref.update(state, (s) => recordSample(s, statuses.filter((q) => running.has(q.name)), now))
  })
  yield* sample.pipe(Effect.repeat(Schedule.spaced(sampleEveryMs)), Effect.forkScoped)

  yield* onEachMessage(nc, `${jobsSubjectPrefix}>`, (m) => Effect.gen(function*() {
    const queue = m.subject.slice(jobsSubjectPrefix.length)
    if ((yield* live.queue(queue)) === undefined) return
    const entries = parseJobReport(m.string())
    if (typeof entries === "string") return
    const now = yield* Clock.currentTimeMillis
    yield* Ref.update(state, (s) => recordJobs(s, queue, entries, now))
  }))

  return History.of({
    all: Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      return new Map([...(yield* Ref.get(state))].map(([name, t]) => [name, historyOf(t, now)]))
    })
  })
}))
