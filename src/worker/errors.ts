// Control-flow errors a job handler can throw.

/**
 * Throw this from a handler for a job that can never succeed (bad data, a refused request): it is not
 * retried. (Issue 3 dead-letters it with reason `rejected`.)
 */
export class NonRetryableError extends Error {
  override readonly name = "NonRetryableError"
  readonly nonRetryable = true
}

export const isNonRetryable = (e: unknown): boolean =>
  e instanceof NonRetryableError || (typeof e === "object" && e !== null && (e as { nonRetryable?: unknown }).nonRetryable === true)
