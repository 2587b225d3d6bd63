// Where the worker loop gets its jobs: pull requests kept open ahead of need, so a finished job's
// slot is refilled without a round trip, and a small prefetch buffer sized to what this worker
// finishes in `windowMs` (from the measured run time of its jobs). Long jobs get no prefetch: a
// busy worker then asks only for its free slots and never sits on jobs another replica could run.
// Buffered jobs are heartbeated by the worker (see ./run.ts) and run, never dropped: a scale-in
// drain or a shutdown stops new pulls and runs what was pulled, so no delivery is spent (a shutdown
// past stopTimeout hands the rest back once the open pulls have ended: `pullsEnded`, `takeBuffered`).
//
// With several consumers (a queue's priority levels, highest first) each level has its own pulls
// and buffer; a free slot takes the oldest job of the highest level that has one (waiting up to
// `graceMs` for a higher level's job on its way), except that a lower level's job that waited while
// `burst` jobs of higher levels started goes first (./priority.ts). The bound: once the worker holds
// a job of a lower level, at most `burst` jobs of higher levels start before it, not counting jobs of
// levels above it that were overdue themselves (when several levels are overdue the highest goes
// first); with two levels, simply at most `burst`. Every level keeps a pull open, so a lower level's
// next job is held by some worker as soon as one asks. A lower level holds at most what higher levels
// leave of the free slots and prefetch, and one job while they fill them, so that a busy replica
// does not sit on lower jobs that other replicas could run: that one job starts at its next free
// slot once no higher job is held, at the latest after `burst` higher starts.
import type { Consumer, JsMsg } from "@nats-io/jetstream"
import { levelLimit, pickLevel, type LevelView } from "./priority.ts"

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
  /** With several consumers: the higher-level starts a held job of a lower level waits at most. */
  readonly burst: number
  /**
   * With several consumers: how long a free slot waits for a higher level's job on its way (the
   * consumer had jobs pending when its pull went out) before it takes a lower level's job.
   */
  readonly graceMs: number
  /** Each consumer's pending jobs as last read (at start); a level with some is expected first. */
  readonly pending?: ReadonlyArray<number>
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

interface Held {
  readonly m: JsMsg
  /** The level's `startsAbove` when it was received. */
  readonly stamp: number
}

/** One consumer's pulls and buffer. */
interface Level {
  readonly consumer: Consumer
  readonly buffer: Array<Held>
  credit: number
  openPulls: number
  retryAt: number
  /** The consumer's pending jobs at its last delivery; 0 once a pull ended short (it had none left). */
  pending: number
  /** A free slot waits for this level's job until then. */
  expectUntil: number
  /** Jobs of higher levels handed out so far. */
  startsAbove: number
}

const sum = (levels: ReadonlyArray<Level>, f: (l: Level) => number) => levels.reduce((n, l) => n + f(l), 0)

/** Pulls from `consumers`, highest priority first; one consumer is a plain FIFO. */
export const startPuller = (consumers: ReadonlyArray<Consumer>, options: PullerOptions): Puller => {
  const levels: ReadonlyArray<Level> = consumers.map((consumer, i) => ({
    consumer, buffer: [], credit: 0, openPulls: 0, retryAt: 0, pending: options.pending?.[i] ?? 0, expectUntil: 0, startsAbove: 0
  }))
  const waiting: Array<(m: JsMsg | undefined) => void> = []
  let avgMs: number | undefined
  let stopped = false
  let closed = false
  let paused = false
  let graceTimer: ReturnType<typeof setTimeout> | undefined
  const whenPullsEnd: Array<() => void> = []

  const prefetch = () =>
    avgMs === undefined ? 0 : Math.min(options.maxPrefetch, Math.floor((options.concurrency * options.windowMs) / Math.max(avgMs, 0.01)))
  const openPulls = () => sum(levels, (l) => l.openPulls)
  const bufferedCount = () => sum(levels, (l) => l.buffer.length)

  const view = (now: number) => (l: Level): LevelView => ({
    held: l.buffer.length,
    waited: l.buffer.length === 0 ? 0 : l.startsAbove - l.buffer[0]!.stamp,
    expected: l.buffer.length === 0 && l.openPulls > 0 && now < l.expectUntil
  })

  /** The level whose job a free slot takes now; a timer re-runs `hand` when a wait for a higher level's job ends. */
  const pick = (): Level | undefined => {
    if (levels.length === 1) return levels[0]!.buffer.length > 0 ? levels[0] : undefined
    const now = Date.now()
    const choice = pickLevel(levels.map(view(now)), options.burst)
    if (choice._tag === "take") {
      for (const lower of levels.slice(choice.level + 1)) lower.startsAbove++
      return levels[choice.level]
    }
    if (choice._tag === "wait" && graceTimer === undefined) {
      const until = Math.min(...levels.filter((l) => l.expectUntil > now).map((l) => l.expectUntil))
      graceTimer = setTimeout(() => {
        graceTimer = undefined
        hand()
      }, until - now)
      graceTimer.unref()
    }
    return undefined
  }

  const hand = () => {
    while (!closed && waiting.length > 0) {
      const level = pick()
      if (level === undefined) break
      waiting.shift()!(level.buffer.shift()!.m)
    }
    if (closed || (stopped && openPulls() === 0 && bufferedCount() === 0)) for (const w of waiting.splice(0)) w(undefined)
    if (openPulls() === 0) for (const f of whenPullsEnd.splice(0)) f()
  }

  const pull = async (l: Level, count: number) => {
    l.credit += count
    l.openPulls++
    if (l.pending > 0) l.expectUntil = Date.now() + options.graceMs
    let received = 0
    let failed = false
    try {
      const batch = await l.consumer.fetch({ max_messages: count, expires: options.expiresMs })
      for await (const m of batch) {
        received++
        l.credit--
        l.pending = m.info.pending
        l.expectUntil = l.pending > 0 ? Date.now() + options.graceMs : 0
        l.buffer.push({ m, stamp: l.startsAbove })
        hand()
      }
    } catch (e) {
      failed = true
      if (!stopped) {
        options.log(`pull failed, retrying in ${retryAfterErrorMs}ms: ${e instanceof Error ? e.message : String(e)}`)
        l.retryAt = Date.now() + retryAfterErrorMs
        setTimeout(pump, retryAfterErrorMs).unref()
      }
    } finally {
      l.credit -= count - received
      l.openPulls--
      if (!failed && received < count) {
        l.pending = 0
        l.expectUntil = 0
      }
      hand()
      pump()
    }
  }

  // Keeps requests open for every free slot plus the prefetch (a lower level: see `levelLimit`; a
  // higher level's open requests count as held while it has jobs pending); a new one goes out once
  // at least half of that is missing (or nothing is open), so requests are few and large at high rates.
  const pump = () => {
    if (stopped || paused) return
    const target = options.concurrency + prefetch()
    const room = target - options.inFlight()
    let heldAbove = 0
    for (const [i, l] of levels.entries()) {
      const missing = levelLimit(i, room, heldAbove) - l.buffer.length - l.credit
      if (missing > 0 && Date.now() >= l.retryAt && (l.openPulls === 0 || missing >= Math.ceil(target / 2))) void pull(l, missing)
      heldAbove += l.buffer.length + (l.pending > 0 ? l.credit : 0)
    }
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
      // A level whose consumer holds back its next job until this one's ack (max_ack_pending) sends
      // it right after: the slot freed now waits the grace for it, counted from now.
      const now = Date.now()
      for (const l of levels) if (l.pending > 0 && l.openPulls > 0 && l.buffer.length === 0) l.expectUntil = Math.max(l.expectUntil, now + options.graceMs)
      pump()
    },
    buffered: () => levels.length === 1 ? levels[0]!.buffer.map((h) => h.m) : levels.flatMap((l) => l.buffer.map((h) => h.m)),
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
      const taken = levels.flatMap((l) => l.buffer.splice(0).map((h) => h.m))
      hand()
      return taken
    },
    stats: () => ({ prefetch: prefetch(), openPulls: openPulls(), credit: sum(levels, (l) => l.credit), buffered: bufferedCount() })
  }
}
