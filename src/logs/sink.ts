// The scaler end of the log T-junction: each worker line becomes one core NATS publish on
// `jetscale.logs.<queue>.<instance>`, which live subscribers see and JETSCALE_LOGS stores.
// Fire-and-forget: a slow, reconnecting or closed connection never blocks or crashes the scaler.
import { headers, type MsgHdrs, type NatsConnection } from "@nats-io/transport-node"
import { logsSubject, logStreamHeader } from "../jetstream/names.ts"
import type { LogLine } from "../runtime/driver.ts"

export interface LogSinkOptions {
  /** Longer lines are cut to this many bytes (UTF-8) and get a `Jetscale-Truncated: <bytes>` header. Default 64 KiB. */
  readonly maxLineBytes?: number
  /** Told about a line that could not be published (e.g. the connection is closed); default: ignore. */
  readonly onError?: (error: unknown, line: LogLine) => void
}

export interface LogSink {
  (line: LogLine): void
  /** Resolves once the server has seen every line published so far (never rejects). */
  readonly flush: () => Promise<void>
  /** Lines that could not be published. */
  readonly dropped: () => number
}

export const truncatedHeader = "Jetscale-Truncated"

const streamHeaders = (stream: LogLine["stream"]): MsgHdrs => {
  const h = headers()
  h.set(logStreamHeader, stream)
  return h
}

export const makeLogSink = (nc: NatsConnection, options: LogSinkOptions = {}): LogSink => {
  // Encoded afresh on every publish, so one instance per stream can be shared.
  const fixed = { stdout: streamHeaders("stdout"), stderr: streamHeaders("stderr") }
  let dropped = 0
  // nats.js queues publishes without bound while disconnected: lines are dropped (and counted) then.
  let connected = true
  void (async () => {
    for await (const st of nc.status()) {
      if (st.type === "disconnect") connected = false
      else if (st.type === "reconnect") connected = true
    }
  })().catch(() => {})
  const limit = () => Math.max(1024, Math.min(options.maxLineBytes ?? 64 * 1024, (nc.info?.max_payload ?? 1024 * 1024) - 4096))

  const sink = (line: LogLine) => {
    if (!connected || nc.isClosed()) {
      dropped++
      try {
        options.onError?.(new Error(nc.isClosed() ? "NATS connection closed" : "NATS disconnected"), line)
      } catch { /* a faulty error hook must not crash the caller either */ }
      return
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
    } catch (e) {
      dropped++
      try {
        options.onError?.(e, line)
      } catch { /* a faulty error hook must not crash the caller either */ }
    }
  }
  return Object.assign(sink, {
    flush: () => nc.isClosed() ? Promise.resolve() : nc.flush().catch(() => {}),
    dropped: () => dropped
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
