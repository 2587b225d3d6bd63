// `jetscale status`: per queue, the backlog from NATS, the running workers from the runtime, and the
// desired count from a running scaler (null when none answers). Works without `jetscale up`.
import { Console, Effect } from "effect"
import { Command } from "effect/cli"
import type { QueueConfig } from "../config/model.ts"
import { readBacklog } from "../jetstream/backlog.ts"
import { Nats } from "../nats/connection.ts"
import { Runtime } from "../runtime/driver.ts"
import type { QueueStatus } from "../scaler/queue-loop.ts"
import { statusSubject } from "../scaler/scaler.ts"
import { configFlag, jsonFlag, load, reportFailure, servicesFor } from "./common.ts"

/** The public JSON row of `status --json`. */
export interface StatusRow {
  readonly name: string
  readonly stream: string
  readonly consumer: string
  readonly pending: number | null
  readonly ackPending: number | null
  readonly replicas: number
  readonly desired: number | null
  readonly error?: string
}

const askScaler = Effect.gen(function*() {
  const { nc } = yield* Nats
  // No answer (no scaler running) or an answer we can't read: desired is unknown.
  return yield* Effect.promise(() => nc.request(statusSubject, "", { timeout: 500 })
    .then((m) => new Map((m.json<{ queues: Array<QueueStatus> }>().queues).map((s) => [s.name, s])))
    .catch(() => undefined))
})

export const collectStatus = (queues: ReadonlyArray<QueueConfig>) => Effect.gen(function*() {
  const { jsm } = yield* Nats
  const runtime = yield* Runtime
  const scaler = yield* askScaler
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
      replicas: runtime.name === "process" ? fromScaler?.running ?? 0 : workers.filter((w) => w.state === "running").length,
      desired: fromScaler?.desired ?? null,
      ...(backlog._tag === "Failure" ? { error: backlog.failure.message } : {})
    }
    return row
  }), { concurrency: "unbounded" })
})

const table = (rows: ReadonlyArray<StatusRow>) => {
  const head = ["QUEUE", "STREAM", "PENDING", "ACK PENDING", "REPLICAS", "DESIRED"]
  const body = rows.map((r) => [r.name, r.stream, String(r.pending ?? "?"), String(r.ackPending ?? "?"), String(r.replicas), String(r.desired ?? "-")])
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)))
  const line = (cells: Array<string>) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd()
  const errors = rows.filter((r) => r.error).map((r) => `${r.name}: ${r.error}`)
  return [line(head), ...body.map(line), ...errors].join("\n")
}

export const status = Command.make("status", { config: configFlag, json: jsonFlag }, ({ config: path, json }) =>
  Effect.gen(function*() {
    const config = yield* load(path)
    const rows = yield* collectStatus(config.queues).pipe(Effect.provide(servicesFor(config, "jetscale-status")))
    yield* Console.log(json ? JSON.stringify({ queues: rows }) : table(rows))
  }).pipe(reportFailure)
).pipe(Command.withDescription("show each queue's backlog and replicas"))
