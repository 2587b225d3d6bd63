// `GET /api/dashboard[?since=MS]`: one JSON snapshot for the dashboard page: each running queue with
// its numbers (the scaler's status), its 15-minute history and jobs/s (./history.ts), its latest
// scale decisions (the scaler's), and its dead letters (./dlq-summary.ts). With `since`, only the
// samples taken after it: the page asks for the whole history once, then for what is new. A DLQ that
// cannot be read leaves `dlq` null with the reason in `dlqError`; the rest is still served.
import { Clock, Effect, Result } from "effect"
import { LiveConfig, type RefusedConfig } from "../config/live.ts"
import type { Override } from "../scaler/reconcile.ts"
import { Scaler } from "../scaler/scaler.ts"
import { DlqSummary, type QueueDeadLetters } from "./dlq-summary.ts"
import { History, sampleEveryMs, windowMs, type Sample } from "./history.ts"

/** Decisions shown per queue. */
export const decisionsShown = 10
/** Reading the DLQ gives up after this long (the snapshot is served without it). */
const dlqTimeout = "4 seconds"

export interface DashboardQueue {
  readonly name: string
  readonly stream: string
  /** pending + inFlight; null until the scaler read the consumer. */
  readonly backlog: number | null
  readonly pending: number | null
  readonly inFlight: number | null
  readonly running: number
  readonly draining: number
  readonly suspended: number
  readonly suspending: number
  readonly desired: number
  readonly minReplicas: number
  readonly maxReplicas: number
  readonly targetPending: number
  readonly jobsPerSecond: number
  /** Of jobsPerSecond: jobs that failed (to be retried) or were dead-lettered. */
  readonly failedPerSecond: number
  readonly override: Override | null
  readonly reconcileError: string | null
  /** Oldest first; with `since`, only those taken after it. */
  readonly history: ReadonlyArray<Sample>
  /** Newest first. */
  readonly decisions: ReadonlyArray<{ readonly at: string; readonly from: number; readonly to: number; readonly kind: string; readonly reason: string }>
  readonly dlq: QueueDeadLetters | null
}

export interface Dashboard {
  /** ms epoch. */
  readonly at: number
  /** Whether a token guards the API (the page then offers to log out). */
  readonly auth: boolean
  readonly windowSeconds: number
  readonly sampleEverySeconds: number
  readonly configRefused: RefusedConfig | null
  readonly dlqError: string | null
  readonly queues: ReadonlyArray<DashboardQueue>
}

/** The `since` query parameter (ms since the epoch): absent is 0, the whole history. */
export const parseSince = (raw: string | ReadonlyArray<string> | undefined): Result.Result<number, string> => {
  if (raw === undefined) return Result.succeed(0)
  if (typeof raw !== "string") return Result.fail("since: expected one value, got several")
  return /^\d{1,15}$/.test(raw) ? Result.succeed(Number(raw)) : Result.fail(`since: expected a time in ms since the epoch (an integer >= 0), got ${JSON.stringify(raw)}`)
}

/** The snapshot, from the services of the admin layer: samples taken after `since` (ms epoch). */
export const makeDashboard = (auth: boolean) => Effect.gen(function*() {
  const scaler = yield* Scaler
  const live = yield* LiveConfig
  const history = yield* History
  const dlqSummary = yield* DlqSummary
  return (since: number) => Effect.gen(function*() {
    const configs = yield* live.queues
    const names = configs.map((q) => q.name)
    const [statuses, histories, decisions, refused, dlq] = yield* Effect.all([
      scaler.status,
      history.all,
      scaler.recentDecisions,
      live.refused,
      dlqSummary.of(names).pipe(
        Effect.timeoutOrElse({ duration: dlqTimeout, orElse: () => Effect.fail({ message: `no answer within ${dlqTimeout}` }) }),
        Effect.result
      )
    ], { concurrency: "unbounded" })
    const byName = new Map(statuses.map((s) => [s.name, s]))
    const queues = configs.flatMap((q): Array<DashboardQueue> => {
      const s = byName.get(q.name)
      if (!s) return []
      const h = histories.get(q.name)
      return [{
        name: q.name, stream: q.stream,
        backlog: s.pending === null || s.ackPending === null ? null : s.pending + s.ackPending,
        pending: s.pending, inFlight: s.ackPending,
        running: s.running, draining: s.draining, suspended: s.suspended, suspending: s.suspending, desired: s.desired,
        minReplicas: q.minReplicas, maxReplicas: q.maxReplicas, targetPending: q.targetPending,
        jobsPerSecond: h?.rate.done ?? 0, failedPerSecond: h?.rate.failed ?? 0,
        override: s.override, reconcileError: s.reconcileError,
        history: (h?.samples ?? []).filter((sample) => sample.at > since),
        decisions: decisions.filter((d) => d.queue === q.name).slice(0, decisionsShown)
          .map((d) => ({ at: d.at, from: d.from, to: d.to, kind: d.kind, reason: d.reason })),
        dlq: dlq._tag === "Success" ? dlq.success.get(q.name) ?? null : null
      }]
    })
    return {
      at: yield* Clock.currentTimeMillis,
      auth, windowSeconds: windowMs / 1000, sampleEverySeconds: sampleEveryMs / 1000,
      configRefused: refused,
      dlqError: dlq._tag === "Failure" ? dlq.failure.message : null,
      queues
    } satisfies Dashboard
  })
})
