// The scaler end of the log T-junction: each worker line becomes one core NATS publish on
// `jetscale.logs.<queue>.<instance>`, which live subscribers see and JETSCALE_LOGS stores.
// Fire-and-forget: a slow, reconnecting or closed connection never blocks or crashes the scaler.
// Optionally rate-limited per worker instance: lines over the limit are dropped and counted, and a
// line saying how many follows once the worker is back under the limit (./rate-limit.ts).
import { headers, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node"
import { logsSubject, logStreamHeader } from "../jetstream/names.ts"
import type { LogLine } from "../runtime/driver.ts"
import { makeLineLimiter, type DropReport, type LineLimiter } from "./rate-limit.ts"

/** Why a line was not published: over the instance's rate limit, or NATS would not take it. */
export type LogDropReason = "rate_limited" | "publish_failed"

export interface LogSinkOptions {
  /** Longer lines are cut to this many bytes (UTF-8) and get a `Jetscale-Truncated: <bytes>` header. Default 64 KiB. */
  readonly maxLineBytes?: number
  /** Told about a line that could not be published (e.g. the connection is closed); default: ignore. */
  readonly onError?: (error: unknown, line: LogLine) => void
  /** Lines per second each worker instance may publish, and as many at once; default: no limit. */
  readonly linesPerSecond?: number
  /** Told how many lines of a queue were dropped and why, in sums at most every 250 ms (e.g. for a metric). */
  readonly onDropped?: (queue: string, reason: LogDropReason, count: number) => void
  /** Also given each line within the rate limit and each dropped-lines notice (e.g. to print them). */
  readonly echo?: (line: LogLine) => void
}

export interface LogSink {
  (line: LogLine): void
  /** Resolves once the server has seen every line published so far (never rejects). */
  readonly flush: () => Promise<void>
  /** Lines dropped for `reason`, or for any reason. */
  readonly dropped: (reason?: LogDropReason) => number
}

export const truncatedHeader = "Jetscale-Truncated"

/** How often drop counts and notices go out while there are any. */
const housekeepingMs = 250

/** The line that tells a worker's readers how many of its lines were dropped. */
export const droppedNotice = (r: DropReport, linesPerSecond: number): LogLine => ({
  queue: r.queue,
  instance: r.instance,
  stream: "stderr",
  line: `jetscale: dropped ${r.dropped} line(s) of this worker: over the limit of ${linesPerSecond} lines/s (logs.linesPerSecond)`
})

const quietly = (f: () => void) => {
  try {
    f()
  } catch { /* a faulty hook must not crash the caller */ }
}

const streamHeaders = (stream: LogLine["stream"]): MsgHdrs => {
  const h = headers()
  h.set(logStreamHeader, stream)
  return h
}

export const makeLogSink = (nc: NatsConnection, options: LogSinkOptions = {}): LogSink => {
  // Encoded afresh on every publish, so one instance per stream can be shared.
  const fixed = { stdout: streamHeaders("stdout"), stderr: streamHeaders("stderr") }
  const totals: Record<LogDropReason, number> = { rate_limited: 0, publish_failed: 0 }
  // nats.js queues publishes without bound while disconnected: lines are dropped (and counted) then.
  let connected = true
  void (async () => {
    for await (const st of nc.status()) {
      if (st.type === "disconnect") connected = false
      else if (st.type === "reconnect") connected = true
    }
  })().catch(() => {})
  const limit = () => Math.max(1024, Math.min(options.maxLineBytes ?? 64 * 1024, (nc.info?.max_payload ?? 1024 * 1024) - 4096))
  const rate = options.linesPerSecond
  const limiter: LineLimiter | undefined = rate === undefined ? undefined : makeLineLimiter({ rate, burst: Math.max(1, rate) })
  const unreported = new Map<string, { queue: string; reason: LogDropReason; count: number }>()
  let timer: ReturnType<typeof setInterval> | undefined

  const housekeep = () => {
    for (const r of limiter?.due(performance.now()) ?? []) pass(droppedNotice(r, rate!))
    for (const u of unreported.values()) quietly(() => options.onDropped?.(u.queue, u.reason, u.count))
    unreported.clear()
    if ((limiter?.size() ?? 0) === 0) {
      clearInterval(timer)
      timer = undefined
    }
  }
  const keepHouse = () => {
    if (timer !== undefined) return
    timer = setInterval(housekeep, housekeepingMs)
    timer.unref()
  }

  const drop = (queue: string, reason: LogDropReason) => {
    totals[reason]++
    const key = `${queue}\u0000${reason}`
    const u = unreported.get(key)
    if (u) u.count++
    else unreported.set(key, { queue, reason, count: 1 })
    keepHouse()
  }

  /** Publishes one line; false when it could not be. */
  const publish = (line: LogLine): boolean => {
    if (!connected || nc.isClosed()) {
      quietly(() => options.onError?.(new Error(nc.isClosed() ? "NATS connection closed" : "NATS disconnected"), line))
      return false
    }
    try {
      let data: string | Uint8Array = line.line
      let h = fixed[line.stream] ?? fixed.stdout
      const bytes = Buffer.byteLength(line.line)
      if (bytes > limit()) {
        data = Buffer.from(line.line).subarray(0, limit())
        h = streamHeaders(line.stream)
        h.set(truncatedHeader, String(bytes))
      }
      nc.publish(logsSubject(line.queue, line.instance), data, { headers: h })
      return true
    } catch (e) {
      quietly(() => options.onError?.(e, line))
      return false
    }
  }

  /** A line within the limit: echoed and published. */
  const pass = (line: LogLine) => {
    if (options.echo) quietly(() => options.echo!(line))
    if (!publish(line)) drop(line.queue, "publish_failed")
  }

  const sink = (line: LogLine) => {
    if (limiter) {
      keepHouse()
      if (!limiter.take(line.queue, line.instance, performance.now())) return drop(line.queue, "rate_limited")
    }
    pass(line)
  }
  return Object.assign(sink, {
    flush: () => nc.isClosed() ? Promise.resolve() : nc.flush().catch(() => {}),
    dropped: (reason?: LogDropReason) => reason === undefined ? totals.rate_limited + totals.publish_failed : totals[reason]
  })
}

/** One log callback feeding several sinks (e.g. NATS and the scaler's own stdout); a throwing sink doesn't stop the others. */
export const teeSinks = (...sinks: ReadonlyArray<((line: LogLine) => void) | undefined>) => (line: LogLine): void => {
  for (const sink of sinks) {
    try {
      sink?.(line)
    } catch { /* each sink on its own */ }
  }
}
