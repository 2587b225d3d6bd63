// Crash-loop backoff, pure: after each worker crash the next start waits longer (1s, 2s, 4s ... 60s),
// so a broken image does not spin; a worker that stays up for `healthyAfterMs` resets it.

export interface CrashState {
  readonly consecutive: number
  /** No worker start before this time (ms epoch). */
  readonly nextStartAt: number
  readonly lastCrashAt: number | null
}

export const noCrashes: CrashState = { consecutive: 0, nextStartAt: 0, lastCrashAt: null }
export const baseDelayMs = 1000
export const maxDelayMs = 60_000
export const healthyAfterMs = 30_000

export const delayAfter = (consecutive: number): number =>
  Math.min(maxDelayMs, baseDelayMs * 2 ** Math.max(0, consecutive - 1))

export const recordCrash = (s: CrashState, now: number): CrashState => {
  const consecutive = s.consecutive + 1
  return { consecutive, nextStartAt: now + delayAfter(consecutive), lastCrashAt: now }
}

export const canStart = (s: CrashState, now: number): boolean => now >= s.nextStartAt

/**
 * Resets the backoff once a worker started after the last crash has run for `healthyAfterMs`
 * (older workers say nothing about whether a new start works).
 */
export const recordHealthy = (s: CrashState, runningStartedAt: ReadonlyArray<number>, now: number): CrashState =>
  s.lastCrashAt !== null && runningStartedAt.some((t) => t >= s.lastCrashAt! && now - t >= healthyAfterMs) ? noCrashes : s
