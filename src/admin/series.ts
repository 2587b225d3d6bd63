// Pure pieces of the dashboard's history: a ring of samples (fixed capacity, the oldest goes) and
// per-second job counts that give a queue's jobs/s. No I/O and no clock: times come in as arguments.

/** At most `capacity` items, oldest first. */
export interface Ring<A> {
  readonly capacity: number
  readonly items: ReadonlyArray<A>
}

export const emptyRing = <A>(capacity: number): Ring<A> => ({ capacity: Math.max(1, Math.floor(capacity)), items: [] })

/** Appends `item`; when full, the oldest item is dropped. */
export const pushRing = <A>(ring: Ring<A>, item: A): Ring<A> => ({
  capacity: ring.capacity,
  items: ring.items.length < ring.capacity ? [...ring.items, item] : [...ring.items.slice(ring.items.length - ring.capacity + 1), item]
})

/** Finished jobs per whole second (ms epoch / 1000), oldest first; `since` is when counting began. */
export interface JobCounts {
  readonly since: number
  readonly seconds: ReadonlyArray<{ readonly second: number; readonly done: number; readonly failed: number }>
}

/** jobs/s is averaged over this many seconds: workers report once a second, so a shorter window jitters. */
export const rateWindowSeconds = 10

export const emptyJobCounts = (nowMs: number): JobCounts => ({ since: nowMs, seconds: [] })

/**
 * Adds `done` finished jobs (`failed` of them not succeeded) at `nowMs`; seconds older than the rate
 * window are dropped, so the list never holds more than `rateWindowSeconds + 1` entries.
 */
export const addJobs = (counts: JobCounts, nowMs: number, done: number, failed: number): JobCounts => {
  const second = Math.floor(nowMs / 1000)
  const kept = counts.seconds.filter((s) => s.second > second - rateWindowSeconds - 1)
  const last = kept.at(-1)
  const seconds = last?.second === second
    ? [...kept.slice(0, -1), { second, done: last.done + done, failed: last.failed + failed }]
    : [...kept, { second, done, failed }]
  return { since: counts.since, seconds }
}

export interface JobRate {
  readonly done: number
  readonly failed: number
}

/**
 * Jobs per second over the last `rateWindowSeconds` before `nowMs` (over less while counting has
 * begun more recently than that, but at least one second), rounded to 0.01.
 */
export const jobRate = (counts: JobCounts, nowMs: number): JobRate => {
  const second = Math.floor(nowMs / 1000)
  const recent = counts.seconds.filter((s) => s.second > second - rateWindowSeconds && s.second <= second)
  const span = Math.max(1, Math.min(rateWindowSeconds, (nowMs - counts.since) / 1000))
  const per = (n: number) => Math.round((n / span) * 100) / 100
  return {
    done: per(recent.reduce((sum, s) => sum + s.done, 0)),
    failed: per(recent.reduce((sum, s) => sum + s.failed, 0))
  }
}
