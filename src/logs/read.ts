// Reads worker output back from JETSCALE_LOGS: the stored lines of a queue (or one instance) since
// a time, and, when following, every new line until stopped. An ordered consumer (ephemeral, no
// acks, re-created by nats.js on a gap) does the delivery, so nothing is left behind on the server.
// `since` is first turned into a stream sequence: nats.js 3.4 re-creates an ordered consumer made
// with `opt_start_time` with both a start time and a start sequence, which the server refuses, so
// such a consumer would stop for good at its first reset (a server restart, a missed heartbeat).
import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JsMsg } from "@nats-io/jetstream"
import { isNotFound } from "../jetstream/errors.ts"
import { logsFilter, logsStream, logStreamHeader } from "../jetstream/names.ts"
import type { LogLine } from "../runtime/driver.ts"

export interface StoredLogLine extends LogLine {
  /** When the scaler published the line (the stream's timestamp). */
  readonly time: Date
  /** Its sequence in JETSCALE_LOGS. */
  readonly seq: number
}

export interface ReadLogsOptions {
  readonly queue: string
  readonly instance?: string
  /** Only lines stored at or after this time; default: everything kept. */
  readonly since?: Date
  /** Keep delivering new lines until `signal` aborts; otherwise stop once caught up. */
  readonly follow?: boolean
  readonly signal?: AbortSignal
}

export class LogsNotProvisioned extends Error {
  constructor() {
    super(`no worker logs yet: stream ${logsStream} does not exist (\`jetscale up\` creates it)`)
    this.name = "LogsNotProvisioned"
  }
}

const decoder = new TextDecoder()

const toLine = (m: JsMsg): StoredLogLine => {
  // jetscale.logs.<queue>.<instance>
  const [, , queue = "", instance = ""] = m.subject.split(".")
  return {
    queue,
    instance,
    stream: m.headers?.get(logStreamHeader) === "stderr" ? "stderr" : "stdout",
    line: decoder.decode(m.data),
    time: m.time,
    seq: m.seq
  }
}

/**
 * Calls `onLine` for each stored line in order, then resolves with the count: once caught up, or,
 * with `follow`, when `signal` aborts. Fails with LogsNotProvisioned when the stream is missing.
 */
export const readLogs = (js: JetStreamClient, options: ReadLogsOptions, onLine: (line: StoredLogLine) => void): Promise<number> =>
  read(js, options, onLine).catch((e: unknown) => {
    throw isNotFound(e) ? new LogsNotProvisioned() : e
  })

/** The sequence of the first line matching `filter` stored at or after `since` (or past the end when none is). */
const firstSeqSince = async (js: JetStreamClient, filter: string, since: Date): Promise<number> => {
  const jsm = await js.jetstreamManager()
  const end = (await jsm.streams.info(logsStream)).state.last_seq + 1
  const probe = await js.consumers.get(logsStream, { filter_subjects: filter, opt_start_time: since.toISOString() })
  try {
    if ((await probe.info(true)).num_pending === 0) return end
    return (await probe.next({ expires: 5000 }))?.seq ?? end
  } finally {
    await probe.delete().catch(() => {})
  }
}

const read = async (js: JetStreamClient, options: ReadLogsOptions, onLine: (line: StoredLogLine) => void): Promise<number> => {
  if (options.signal?.aborted) return 0
  const filter = logsFilter(options.queue, options.instance)
  const consumer = await js.consumers.get(logsStream, {
    filter_subjects: filter,
    ...(options.since ? { opt_start_seq: await firstSeqSince(js, filter, options.since) } : { deliver_policy: DeliverPolicy.All })
  })
  let count = 0
  let messages: ConsumerMessages | undefined
  try {
    // Without follow: what is stored now, so a chatty worker can't keep the reader going.
    const last = options.follow ? Infinity : (await (await js.jetstreamManager()).streams.info(logsStream)).state.last_seq
    // Pending at creation: 0 means there is nothing stored to print.
    if (!options.follow && (await consumer.info(true)).num_pending === 0) return 0
    // Heartbeats every 2s: a lost consumer (a server restart) is noticed and re-created within seconds.
    messages = await consumer.consume({ expires: 10_000, idle_heartbeat: 2_000 })
    const stop = () => messages?.stop()
    options.signal?.addEventListener("abort", stop, { once: true })
    if (options.signal?.aborted) stop()
    try {
      for await (const m of messages) {
        if (m.seq > last) break
        count++
        onLine(toLine(m))
        if (m.seq === last || (!options.follow && m.info.pending === 0)) break
      }
    } finally {
      options.signal?.removeEventListener("abort", stop)
    }
    return count
  } finally {
    messages?.stop()
    // An ordered consumer is ephemeral; deleting it now spares the server its inactivity timeout.
    await consumer.delete().catch(() => {})
  }
}
