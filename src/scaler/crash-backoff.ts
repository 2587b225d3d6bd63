// Crash-loop backoff, pure: after each worker crash the next start waits longer (1s, 2s, 4s ... 60s),
// so a broken image does not spin; a worker that stays up for `healthyAfterMs` resets it.

export interface CrashState {
  readonly consecutive: number
  /** No worker start before this time (ms epoch). */
  readonly nextStartAt: number
}

export const noCrashes: CrashState = { consecutive: 0, nextStartAt: 0 }
export const baseDelayMs = 1000
export const maxDelayMs = 60_000
export const healthyAfterMs = 30_000

export const delayAfter = (consecutive: number): number =>
  Math.min(maxDelayMs, baseDelayMs * 2 ** Math.max(0, consecutive - 1))

export const recordCrash = (s: CrashState, now: number): CrashState => {
  const consecutive = s.consecutive + 1
  return { consecutive, nextStartAt: now + delayAfter(consecutive) }
}

export const canStart = (s: CrashState, now: number): boolean => now >= s.nextStartAt

/** Resets the backoff once some worker has run for `healthyAfterMs`. */
export const recordHealthy = (s: CrashState, oldestRunningStartedAt: number | undefined, now: number): CrashState =>
  s.consecutive > 0 && oldestRunningStartedAt !== undefined && now - oldestRunningStartedAt >= healthyAfterMs ? noCrashes : s
