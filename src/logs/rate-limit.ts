// The log sink's rate limit: a token bucket per worker instance (`rate` lines a second, up to `burst`
// at once). Lines over it are dropped and counted; once the instance has been quiet for `quietMs`
// (its rate is back under the limit), or every `reportEveryMs` while it floods on, the count is
// handed out once, for a line saying how many were dropped. Pure: the caller passes the time (ms).

export interface LineLimitOptions {
  readonly rate: number
  readonly burst: number
  readonly quietMs?: number
  readonly reportEveryMs?: number
}

/** Lines of one instance dropped since the last report. */
export interface DropReport {
  readonly queue: string
  readonly instance: string
  readonly dropped: number
}

interface Bucket {
  readonly queue: string
  readonly instance: string
  tokens: number
  at: number
  dropped: number
  firstDropAt: number
  lastDropAt: number
}

export interface LineLimiter {
  /** Whether this instance's next line may pass at `now`; false: drop it (it is counted). */
  readonly take: (queue: string, instance: string, now: number) => boolean
  /** The drop counts due for a report at `now` (each handed out once); forgets buckets that are full again. */
  readonly due: (now: number) => ReadonlyArray<DropReport>
  /** Instances it keeps state for. */
  readonly size: () => number
}

export const makeLineLimiter = (o: LineLimitOptions): LineLimiter => {
  const quietMs = o.quietMs ?? 1000
  const reportEveryMs = o.reportEveryMs ?? 10_000
  const buckets = new Map<string, Bucket>()

  const refill = (b: Bucket, now: number) => {
    b.tokens = Math.min(o.burst, b.tokens + Math.max(0, now - b.at) * o.rate / 1000)
    b.at = now
  }

  const take = (queue: string, instance: string, now: number): boolean => {
    const key = `${queue}\u0000${instance}`
    let b = buckets.get(key)
    if (b === undefined) {
      b = { queue, instance, tokens: o.burst, at: now, dropped: 0, firstDropAt: 0, lastDropAt: 0 }
      buckets.set(key, b)
    }
    refill(b, now)
    if (b.tokens >= 1) {
      b.tokens -= 1
      return true
    }
    if (b.dropped === 0) b.firstDropAt = now
    b.dropped++
    b.lastDropAt = now
    return false
  }

  const due = (now: number): ReadonlyArray<DropReport> => {
    const out: Array<DropReport> = []
    for (const [key, b] of buckets) {
      if (b.dropped > 0 && (now - b.lastDropAt >= quietMs || now - b.firstDropAt >= reportEveryMs)) {
        out.push({ queue: b.queue, instance: b.instance, dropped: b.dropped })
        b.dropped = 0
      }
      refill(b, now)
      if (b.dropped === 0 && b.tokens >= o.burst) buckets.delete(key)
    }
    return out
  }

  return { take, due, size: () => buckets.size }
}
