// Where the worker loop gets its jobs: pull requests kept open ahead of need, so a finished job's
// slot is refilled without a round trip, and a small prefetch buffer sized to what this worker
// finishes in `windowMs` (from the measured run time of its jobs). Long jobs get no prefetch: a
// busy worker then asks only for its free slots and never sits on jobs another replica could run.
// Buffered jobs are heartbeated by the worker (see ./run.ts) and run, never dropped: a scale-in
// drain or a shutdown stops new pulls and runs what was pulled, so no delivery is spent (a shutdown
// past stopTimeout hands the rest back once the open pulls have ended: `pullsEnded`, `takeBuffered`).
import type { Consumer, JsMsg } from "@nats-io/jetstream"

export interface PullerOptions {
  readonly concurrency: number
  /** Jobs in flight now (started, not finished). */
  readonly inFlight: () => number
  /** A buffered job waits about this long on average before it starts. */
  readonly windowMs: number
  readonly maxPrefetch: number
  /** How long one pull request stays open on the server. */
  readonly expiresMs: number
  readonly log: (line: string) => void
}

export interface Puller {
  /**
   * The next job, once one is buffered; undefined once stopped and every open pull has ended, or
   * when `withinMs` passes first (filling a batch).
   */
  readonly next: (withinMs?: number) => Promise<JsMsg | undefined>
  /** A job's run time, for the prefetch size; also frees its slot for a new pull. */
  readonly finished: (ms: number) => void
  /** Jobs received and not yet started (to heartbeat). */
  readonly buffered: () => ReadonlyArray<JsMsg>
  /** No new pull requests for now (a worker being suspended); `next` keeps waiting. */
  readonly pause: () => void
  /** Pulls again after a `pause` (a suspended worker thawed). */
  readonly resume: () => void
  /** Resolves once no pull request is open any more (at most `expiresMs` after `stop`). */
  readonly pullsEnded: () => Promise<void>
  /** Stops and empties the buffer for good: the jobs are the caller's to hand back. */
  readonly takeBuffered: () => ReadonlyArray<JsMsg>
  /** No new pull requests; open ones run to their end and what they deliver is still handed out. */
  readonly stop: () => void
  readonly stats: () => { readonly prefetch: number; readonly openPulls: number; readonly credit: number; readonly buffered: number }
}

const retryAfterErrorMs = 1000

export const startPuller = (consumer: Consumer, options: PullerOptions): Puller => {
  const buffer: Array<JsMsg> = []
  const waiting: Array<(m: JsMsg | undefined) => void> = []
  let credit = 0
  let openPulls = 0
  let avgMs: number | undefined
  let stopped = false
  let retryAt = 0
  let closed = false
  let paused = false
  const whenPullsEnd: Array<() => void> = []

  const prefetch = () =>
    avgMs === undefined ? 0 : Math.min(options.maxPrefetch, Math.floor((options.concurrency * options.windowMs) / Math.max(avgMs, 0.01)))

  const hand = () => {
    while (!closed && waiting.length > 0 && buffer.length > 0) waiting.shift()!(buffer.shift())
    if (closed || (stopped && openPulls === 0 && buffer.length === 0)) for (const w of waiting.splice(0)) w(undefined)
    if (openPulls === 0) for (const f of whenPullsEnd.splice(0)) f()
  }

  const pull = async (count: number) => {
    credit += count
    openPulls++
    let received = 0
    try {
      const batch = await consumer.fetch({ max_messages: count, expires: options.expiresMs })
      for await (const m of batch) {
        received++
        credit--
        buffer.push(m)
        hand()
      }
    } catch (e) {
      if (!stopped) {
        options.log(`pull failed, retrying in ${retryAfterErrorMs}ms: ${e instanceof Error ? e.message : String(e)}`)
        retryAt = Date.now() + retryAfterErrorMs
        setTimeout(pump, retryAfterErrorMs).unref()
      }
    } finally {
      credit -= count - received
      openPulls--
      hand()
      pump()
    }
  }

  // Keeps requests open for every free slot plus the prefetch; a new one goes out once at least
  // half of that is missing (or nothing is open), so requests are few and large at high rates.
  const pump = () => {
    if (stopped || paused || Date.now() < retryAt) return
    const target = options.concurrency + prefetch()
    const missing = target - options.inFlight() - buffer.length - credit
    if (missing <= 0) return
    if (openPulls === 0 || missing >= Math.ceil(target / 2)) void pull(missing)
  }

  pump()
  return {
    next: (withinMs) => new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined
      const waiter = (m: JsMsg | undefined) => {
        clearTimeout(timer)
        resolve(m)
      }
      waiting.push(waiter)
      hand()
      pump()
      if (withinMs !== undefined && waiting.includes(waiter)) {
        timer = setTimeout(() => {
          const i = waiting.indexOf(waiter)
          if (i >= 0) waiting.splice(i, 1)
          resolve(undefined)
        }, Math.max(0, withinMs))
      }
    }),
    finished: (ms) => {
      avgMs = avgMs === undefined ? ms : avgMs * 0.8 + ms * 0.2
      pump()
    },
    buffered: () => buffer,
    stop: () => {
      stopped = true
      hand()
    },
    pause: () => {
      paused = true
    },
    resume: () => {
      paused = false
      pump()
    },
    pullsEnded: () => new Promise((resolve) => {
      whenPullsEnd.push(resolve)
      hand()
    }),
    takeBuffered: () => {
      stopped = true
      closed = true
      const taken = buffer.splice(0)
      hand()
      return taken
    },
    stats: () => ({ prefetch: prefetch(), openPulls, credit, buffered: buffer.length })
  }
}
