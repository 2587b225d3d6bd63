// What the workers say they are doing, from `jetscale.workers.<queue>.<instance>`: running or
// draining, and how many jobs they have in flight. The queue loops read it: a scale-in drains idle
// replicas first, and a restarted scaler adopts draining replicas as draining. Every report is
// checked before use (running queue, known state, bounded numbers); anything else is dropped.
import type { Msg, NatsConnection } from "@nats-io/transport-node"
import { Clock, Effect, Ref } from "effect"
import { workerStatesFilter } from "../jetstream/names.ts"
import { onEachMessage } from "../nats/subscription.ts"
import type { WorkerPhase } from "../worker/state-report.ts"

export interface ReportedState {
  readonly state: WorkerPhase
  readonly inFlight: number
  /** Mean run time of its jobs finished in the last minute (ms); absent when none. */
  readonly meanJobMs?: number
  /** ms epoch when it was heard. */
  readonly at: number
}

export type QueueWorkerStates = ReadonlyMap<string, ReportedState>

export interface WorkerStates {
  /** The latest report of each of the queue's workers, by instance. */
  readonly of: (queue: string) => Effect.Effect<QueueWorkerStates>
  /** Forgets the queue's instances that are not in `keep` (workers that are gone). */
  readonly retain: (queue: string, keep: ReadonlySet<string>) => Effect.Effect<void>
  /** Forgets every report older than `beforeMs` (a standby, whose loops do not `retain`). */
  readonly forgetBefore: (beforeMs: number) => Effect.Effect<void>
  /** ms epoch when listening began: a running worker reports within a second of it. */
  readonly since: number
}

const maxReportBytes = 4096
const maxInFlight = 1_000_000
/** A week: longer means are not believed. */
const maxMeanJobMs = 7 * 24 * 3600_000
const prefix = "jetscale.workers."

/** The queue, instance and state a message reports, or undefined when it is not a valid report. */
export const parseWorkerState = (subject: string, data: Uint8Array) => {
  if (!subject.startsWith(prefix) || data.length > maxReportBytes) return undefined
  const [queue, instance, ...rest] = subject.slice(prefix.length).split(".")
  if (queue === undefined || instance === undefined || rest.length > 0) return undefined
  let body: unknown
  try {
    body = JSON.parse(new TextDecoder().decode(data))
  } catch {
    return undefined
  }
  const r = body as { readonly state?: unknown; readonly inFlight?: unknown; readonly meanJobMs?: unknown } | null
  if (typeof r !== "object" || r === null) return undefined
  if (r.state !== "running" && r.state !== "draining" && r.state !== "suspending" && r.state !== "suspended") return undefined
  if (typeof r.inFlight !== "number" || !Number.isSafeInteger(r.inFlight) || r.inFlight < 0 || r.inFlight > maxInFlight) return undefined
  const meanJobMs = typeof r.meanJobMs === "number" && Number.isFinite(r.meanJobMs) && r.meanJobMs >= 0 && r.meanJobMs <= maxMeanJobMs ? r.meanJobMs : undefined
  return { queue, instance, state: r.state, inFlight: r.inFlight, ...(meanJobMs === undefined ? {} : { meanJobMs }) } as const
}

/** Listens for the reports of the workers of running queues (`isQueue`) for the life of the scope. */
export const trackWorkerStates = (nc: NatsConnection, isQueue: (queue: string) => Effect.Effect<boolean>) => Effect.gen(function*() {
  const states = yield* Ref.make<ReadonlyMap<string, QueueWorkerStates>>(new Map())
  const since = yield* Clock.currentTimeMillis
  const heard = (m: Msg) => Effect.gen(function*() {
    const report = parseWorkerState(m.subject, m.data)
    if (report === undefined || !(yield* isQueue(report.queue))) return
    const at = yield* Clock.currentTimeMillis
    yield* Ref.update(states, (all) =>
      new Map(all).set(report.queue, new Map(all.get(report.queue)).set(report.instance, {
        state: report.state, inFlight: report.inFlight, ...(report.meanJobMs === undefined ? {} : { meanJobMs: report.meanJobMs }), at
      })))
  })
  yield* onEachMessage(nc, workerStatesFilter, heard)
  return {
    of: (queue) => Ref.get(states).pipe(Effect.map((all) => all.get(queue) ?? new Map())),
    retain: (queue, keep) => Ref.update(states, (all) => {
      const mine = all.get(queue)
      if (mine === undefined || [...mine.keys()].every((i) => keep.has(i))) return all
      return new Map(all).set(queue, new Map([...mine].filter(([i]) => keep.has(i))))
    }),
    forgetBefore: (beforeMs) => Ref.update(states, (all) =>
      new Map([...all].flatMap(([queue, mine]) => {
        const kept = [...mine].filter(([, r]) => r.at >= beforeMs)
        return kept.length === 0 ? [] : [[queue, new Map(kept)] as const]
      }))),
    since
  } satisfies WorkerStates
})
