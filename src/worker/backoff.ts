// Retry delays as Effect Schedules: the NAK delay for a delivery is the schedule's delay at that step.
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"

/** Exponential backoff in ms: `initialMs * factor^(attempt-1)`, capped at `maxMs`, times 1 ± jitter. */
export interface ExponentialBackoff {
  readonly initialMs: number
  readonly maxMs: number
  readonly factor: number
  readonly jitter: number
}

/** A list of delays in ms (the last repeats) or an exponential policy. */
export type BackoffSpec = ReadonlyArray<number> | ExponentialBackoff

/** `[1s, 5s, 30s]`: attempt 1 waits 1s, attempt 2 5s, every later attempt 30s. */
export const fromList = (delaysMs: ReadonlyArray<number>): Schedule.Schedule<number> => {
  const delays = delaysMs.length > 0 ? delaysMs : [0]
  return Schedule.fromStep(Effect.sync(() => {
    let attempt = 0
    return (_now: number, _input: unknown) => {
      const delay = delays[Math.min(attempt, delays.length - 1)] ?? 0
      attempt += 1
      return Effect.succeed([attempt, Duration.millis(delay)] as [number, Duration.Duration])
    }
  }))
}

/** Exponential with jitter, capped: each delay is min(max, initial * factor^n) * (1 ± jitter). */
export const exponential = (b: ExponentialBackoff): Schedule.Schedule<Duration.Duration> =>
  Schedule.exponential(Duration.millis(b.initialMs), b.factor).pipe(
    Schedule.modifyDelay(({ duration }) => {
      const capped = Math.min(b.maxMs, Duration.toMillis(duration))
      const spread = b.jitter > 0 ? 1 + (Math.random() * 2 - 1) * b.jitter : 1
      return Effect.succeed(Duration.millis(Math.max(0, Math.round(capped * spread))))
    })
  )

export const fromSpec = (spec: BackoffSpec): Schedule.Schedule<unknown> =>
  Array.isArray(spec) ? fromList(spec as ReadonlyArray<number>) : exponential(spec as ExponentialBackoff)

/** The delay in ms that `schedule` gives before retry number `attempt` (1-based). */
export const delayForAttempt = (schedule: Schedule.Schedule<unknown>, attempt: number): number =>
  Effect.runSync(Effect.gen(function*() {
    const step = yield* Schedule.toStep(schedule)
    let delay = Duration.zero
    for (let i = 0; i < Math.max(1, attempt); i++) {
      const out = yield* Effect.result(step(0, undefined))
      if (out._tag === "Failure") break
      delay = out.success[1]
    }
    return Duration.toMillis(delay)
  }).pipe(Effect.catchCause(() => Effect.succeed(0))))
