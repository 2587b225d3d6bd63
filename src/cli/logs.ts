// `jetscale logs <queue> [-f|--follow] [--since 10m|<ISO time>] [--instance ID]`: worker output kept
// in JETSCALE_LOGS, one line each: `<time> <queue>/<instance> stdout|stderr| <text>`.
import { Duration, Effect, Option, Schema } from "effect"
import { ShortDuration } from "../config/duration.ts"
import { readLogs, type StoredLogLine } from "../logs/read.ts"
import { describe, layer as natsLayer, Nats } from "../nats/connection.ts"
import { endWhenClientGoes, exitOnClosedStdout } from "./client-gone.ts"
import { load, reportFailure } from "./common.ts"

class LogsError extends Schema.TaggedError<LogsError>()("LogsError", { message: Schema.String }) {}

/** `10m` means that long ago; an ISO-8601 time is taken as it is. */
export const parseSince = (text: string, now = Date.now()): Date | undefined => {
  const d = Schema.decodeUnknownOption(ShortDuration)(text)
  if (Option.isSome(d)) return new Date(now - Duration.toMillis(d.value))
  if (/^\d{4}-\d\d-\d\d/.test(text)) {
    const t = Date.parse(text)
    if (!Number.isNaN(t)) return new Date(t)
  }
  return undefined
}

export const formatLogLine = (l: StoredLogLine): string => `${l.time.toISOString()} ${l.queue}/${l.instance} ${l.stream}| ${l.line}`

export interface LogsArgs {
  readonly config: string
  readonly queue: string
  readonly follow: boolean
  readonly since: Option.Option<string>
  readonly instance: Option.Option<string>
}

export const runLogs = ({ config: path, queue, follow, since, instance }: LogsArgs) =>
  Effect.gen(function*() {
    const config = yield* load(path)
    if (!config.queues.some((q) => q.name === queue)) {
      const known = config.queues.map((q) => q.name).join(", ")
      return yield* new LogsError({ message: `unknown queue "${queue}" (configured: ${known || "none"})` })
    }
    const sinceText = Option.getOrUndefined(since)
    const sinceTime = sinceText === undefined ? undefined : parseSince(sinceText)
    if (sinceText !== undefined && sinceTime === undefined) {
      return yield* new LogsError({ message: `--since: expected a duration like 10m or 2h, or an ISO time, got "${sinceText}"` })
    }
    const inst = Option.getOrUndefined(instance)
    if (follow) endWhenClientGoes()
    else exitOnClosedStdout()
    const count = yield* Effect.gen(function*() {
      const { js } = yield* Nats
      return yield* Effect.tryPromise({
        try: (signal) => readLogs(js, { queue, follow, signal, ...(inst ? { instance: inst } : {}), ...(sinceTime ? { since: sinceTime } : {}) },
          (l) => { process.stdout.write(`${formatLogLine(l)}\n`) }),
        catch: (e) => new LogsError({ message: describe(e) })
      })
    }).pipe(Effect.provide(natsLayer(config.nats, "jetscale-logs")))
    if (count === 0 && !follow) {
      process.stderr.write(`no stored lines of queue ${queue}${inst ? ` instance ${inst}` : ""}${sinceText ? ` since ${sinceText}` : ""}\n`)
    }
  }).pipe(reportFailure)
