// `jetscale status`: per queue, the backlog from NATS, the running workers from the runtime, and the
// desired count from a running scaler (null when none answers). Works without `jetscale up`.
import { Console, Effect, Schedule } from "effect"
import type { QueueConfig } from "../config/model.ts"
import { readBacklog, type LevelBacklog } from "../jetstream/backlog.ts"
import { Nats } from "../nats/connection.ts"
import { Runtime } from "../runtime/driver.ts"
import type { QueueStatus } from "../scaler/queue-loop.ts"
import { defaultDeployment, statusSubjectOf } from "../jetstream/names.ts"
import { endWhenClientGoes } from "./client-gone.ts"
import { load, reportFailure, servicesFor } from "./common.ts"
import { renderTable } from "./table.ts"

/** The public JSON row of `status --json`. */
export interface StatusRow {
  readonly name: string
  readonly stream: string
  readonly consumer: string
  readonly pending: number | null
  readonly ackPending: number | null
  /** Replicas running (serving the desired count). */
  readonly replicas: number
  /** Replicas drained by a scale-in, finishing their jobs; null when no scaler answers (docker: counted in replicas then). */
  readonly draining: number | null
  /** `idle: suspend`: replicas frozen or being frozen (docker without a scaler: paused containers). */
  readonly suspended: number | null
  readonly desired: number | null
  /** What the policy wants now (before delays and the budget); null when no scaler answers. */
  readonly wanted: number | null
  /** What the shared budget (`scaler.maxReplicas`) grants; null without a budget or a scaler. */
  readonly granted: number | null
  /** The signal that decided the last step (`backlog`, `waitTime`, `utilization`, `rate`). */
  readonly signal: string | null
  /** A schedule in force: its floor, until when (RFC 3339) and its cron. */
  readonly schedule: QueueStatus["schedule"]
  /** A queue with priorities: each level's pending and ackPending, highest first. */
  readonly levels?: ReadonlyArray<LevelBacklog>
  readonly error?: string
}

const askScaler = (deployment: string) => Effect.gen(function*() {
  const { nc } = yield* Nats
  // No answer (no scaler running) or an answer we can't read: desired is unknown.
  return yield* Effect.promise(() => nc.request(statusSubjectOf(deployment), "", { timeout: 500 })
    .then((m) => new Map((m.json<{ queues: Array<QueueStatus> }>().queues).map((s) => [s.name, s])))
    .catch(() => undefined))
})

export const collectStatus = (queues: ReadonlyArray<QueueConfig>, deployment = defaultDeployment) => Effect.gen(function*() {
  const { jsm } = yield* Nats
  const runtime = yield* Runtime
  const scaler = yield* askScaler(deployment)
  return yield* Effect.forEach(queues, (q) => Effect.gen(function*() {
    const backlog = yield* Effect.result(readBacklog(jsm, q))
    const workers = runtime.name === "process" ? [] : yield* runtime.list(q.name)
    const fromScaler = scaler?.get(q.name)
    const row: StatusRow = {
      name: q.name,
      stream: q.stream,
      consumer: q.consumer,
      pending: backlog._tag === "Success" ? backlog.success.pending : null,
      ackPending: backlog._tag === "Success" ? backlog.success.ackPending : null,
      // The scaler knows which replicas drain; without it, docker's running containers are all counted.
      replicas: fromScaler?.running ?? workers.filter((w) => w.state === "running").length,
      draining: fromScaler?.draining ?? null,
      suspended: fromScaler ? fromScaler.suspended + fromScaler.suspending : runtime.name === "process" ? null : workers.filter((w) => w.state === "paused").length,
      desired: fromScaler?.desired ?? null,
      wanted: fromScaler?.wanted ?? null,
      granted: fromScaler?.granted ?? null,
      signal: fromScaler?.signal ?? null,
      schedule: fromScaler?.schedule ?? null,
      ...(backlog._tag === "Success" && backlog.success.levels ? { levels: backlog.success.levels } : {}),
      ...(backlog._tag === "Failure" ? { error: backlog.failure.message } : {})
    }
    return row
  }), { concurrency: "unbounded" })
})

/** Which optional columns the table has: each only when some queue uses what it shows. */
interface Columns {
  readonly suspended: boolean
  readonly budget: boolean
  readonly schedule: boolean
}

const columnsFor = (config: { readonly scaler: { readonly maxReplicas?: number }; readonly queues: ReadonlyArray<QueueConfig> }): Columns => ({
  suspended: config.queues.some((q) => q.idle === "suspend"),
  budget: config.scaler.maxReplicas !== undefined,
  schedule: config.queues.some((q) => q.schedule.length > 0)
})

/** `12`, or with priorities `12 (high 2, normal 10, low 0)`. */
const pendingText = (r: StatusRow) =>
  r.pending === null ? "?" : r.levels ? `${r.pending} (${r.levels.map((l) => `${l.level} ${l.pending}`).join(", ")})` : String(r.pending)

/** `min 2 until 17:00Z (0 8 * * 1-5)`, or `-`. */
const scheduleText = (s: StatusRow["schedule"]) => s === null ? "-" : `min ${s.minReplicas} until ${s.until.slice(11, 16)}Z (${s.cron})`

const table = (rows: ReadonlyArray<StatusRow>, columns: Columns) => {
  const head = ["QUEUE", "STREAM", "PENDING", "ACK PENDING", "REPLICAS", "DRAINING", ...(columns.suspended ? ["SUSPENDED"] : []), "DESIRED",
    ...(columns.budget ? ["WANTED", "GRANTED"] : []), ...(columns.schedule ? ["SCHEDULE"] : [])]
  const body = rows.map((r) => [r.name, r.stream, pendingText(r), String(r.ackPending ?? "?"), String(r.replicas), String(r.draining ?? "-"),
    ...(columns.suspended ? [String(r.suspended ?? "-")] : []), String(r.desired ?? "-"),
    ...(columns.budget ? [String(r.wanted ?? "-"), String(r.granted ?? "-")] : []), ...(columns.schedule ? [scheduleText(r.schedule)] : [])])
  const errors = rows.filter((r) => r.error).map((r) => `${r.name}: ${r.error}`)
  return [renderTable(head, body), ...errors].join("\n")
}

/** Jobs that have left each queue (acked or dead-lettered) so far: for a work queue, sequences no longer stored. */
const doneCounts = (queues: ReadonlyArray<QueueConfig>) => Effect.gen(function*() {
  const { jsm } = yield* Nats
  return new Map(yield* Effect.forEach(queues, (q) => Effect.promise(() =>
    jsm.streams.info(q.stream).then((i) => [q.name, i.state.last_seq - i.state.messages] as const, () => [q.name, 0] as const))))
})

/** One frame of `status --watch`: backlog, in flight, replicas, throughput and the last decision. */
const watchFrame = (queues: ReadonlyArray<QueueConfig>, deployment: string, previous: { at: number; done: Map<string, number> } | undefined) => Effect.gen(function*() {
  const rows = yield* collectStatus(queues, deployment)
  const scaler = yield* askScaler(deployment)
  const done = yield* doneCounts(queues)
  const at = Date.now()
  const head = ["QUEUE", "BACKLOG", "IN FLIGHT", "RUNNING/DESIRED", "DRAINING", "DONE/S", "LAST DECISION"]
  const body = rows.map((r) => {
    const dt = previous ? (at - previous.at) / 1000 : 0
    const rate = previous && dt > 0 ? ((done.get(r.name) ?? 0) - (previous.done.get(r.name) ?? 0)) / dt : 0
    const last = scaler?.get(r.name)?.lastDecision
    return [r.name, String((r.pending ?? 0) + (r.ackPending ?? 0)), String(r.ackPending ?? "?"), `${r.replicas}/${r.desired ?? "-"}`, String(r.draining ?? "-"), rate.toFixed(1),
      last ? `${last.at.slice(11, 19)} ${last.kind}: ${last.reason}`.slice(0, 90) : "-"]
  })
  const text = [`jetscale status  ${new Date(at).toISOString()}${scaler ? "" : "  (no scaler answers: desired unknown)"}`, "", renderTable(head, body)].join("\n")
  return { text, at, done }
})

export const runStatus = ({ config: path, json, watch }: { readonly config: string; readonly json: boolean; readonly watch: boolean }) =>
  Effect.gen(function*() {
    const config = yield* load(path)
    if (!watch) {
      const rows = yield* collectStatus(config.queues, config.deployment).pipe(Effect.provide(servicesFor(config, "jetscale-status")))
      return yield* Console.log(json ? JSON.stringify({ queues: rows }) : table(rows, columnsFor(config)))
    }
    endWhenClientGoes()
    let previous: { at: number; done: Map<string, number> } | undefined
    yield* watchFrame(config.queues, config.deployment, previous).pipe(
      Effect.tap((frame) => Effect.sync(() => {
        previous = frame
        process.stdout.write(`\x1b[2J\x1b[H${frame.text}\n`)
      })),
      Effect.repeat(Schedule.spaced("1 second")),
      Effect.provide(servicesFor(config, "jetscale-status"))
    )
  }).pipe(reportFailure)
