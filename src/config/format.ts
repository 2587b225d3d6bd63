// Durations in the short human form of jetscale.yaml, for messages; no Effect here, so the worker
// SDK can use it without loading a Schema.

/** Milliseconds in the short form: `30000` -> `30s`, `1500` -> `1500ms`. */
export const formatMillis = (ms: number): string => {
  const units: ReadonlyArray<readonly [string, number]> = [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]]
  for (const [unit, size] of units) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`
  return `${ms}ms`
}
