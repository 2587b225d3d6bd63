// The shared replica budget (`scaler.maxReplicas`), split between queues (pure, deterministic).
// Under budget everyone gets what it wants. Over budget, in this order while replicas last:
//   1. floors (`floor`: a minReplicas or schedule floor), highest priority first;
//   2. one replica to each queue with work and none yet, highest priority first (ties: larger
//      wanted, then name), so no queue with work is starved if the budget allows one each;
//   3. the rest by priority level, highest first: a level gets what it still wants before a
//      lower level gets more; inside a level the remainder is shared in proportion to what each
//      still wants (largest remainder, ties by name). Never more than a queue wants.

export interface Want {
  readonly queue: string
  readonly priority: number
  readonly wanted: number
  /** Granted before anything else (capped at wanted). */
  readonly floor?: number
}

/** More replicas than any queue could run: keeps the integer arithmetic exact. */
const maxCount = 1_000_000
/** A count from outside: whole, in [0, maxCount] (NaN counts as 0). */
const whole = (n: number | undefined): number =>
  n === undefined || Number.isNaN(n) || n <= 0 ? 0 : Math.min(maxCount, Math.floor(n))
const byName = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

interface Row {
  readonly queue: string
  readonly priority: number
  readonly wanted: number
  readonly floor: number
}

/** Replicas per queue (every queue listed, 0 included). `budget` may be Infinity (no budget). */
export const allocate = (wants: ReadonlyArray<Want>, budget: number): ReadonlyMap<string, number> => {
  const rows: ReadonlyArray<Row> = wants.map((w) => {
    const wanted = whole(w.wanted)
    return { queue: w.queue, priority: Number.isFinite(w.priority) ? w.priority : 0, wanted, floor: Math.min(whole(w.floor), wanted) }
  })
  const granted = new Map<string, number>(rows.map((r) => [r.queue, 0]))
  const total = rows.reduce((n, r) => n + r.wanted, 0)
  let left = budget > maxCount ? Infinity : whole(budget)
  if (total <= left) {
    for (const r of rows) granted.set(r.queue, r.wanted)
    return granted
  }
  const get = (r: Row) => granted.get(r.queue)!
  const give = (r: Row, n: number) => {
    granted.set(r.queue, get(r) + n)
    left -= n
  }
  const ranked = [...rows].sort((a, b) => b.priority - a.priority || b.wanted - a.wanted || byName(a.queue, b.queue))

  for (const r of ranked) give(r, Math.min(r.floor - get(r), left))
  for (const r of ranked) if (left > 0 && r.wanted >= 1 && get(r) === 0) give(r, 1)

  const levels = [...new Set(ranked.map((r) => r.priority))]
  for (const level of levels) {
    if (left <= 0) break
    const members = ranked.filter((r) => r.priority === level).sort((a, b) => byName(a.queue, b.queue))
    const still = members.map((r) => r.wanted - get(r))
    const sum = still.reduce((a, b) => a + b, 0)
    if (sum <= left) {
      members.forEach((r, i) => give(r, still[i]!))
      continue
    }
    // Proportional shares in whole numbers: floor(left * still / sum), then one more to the largest remainders.
    const share = left
    const parts = members.map((r, i) => ({ r, base: Math.floor((share * still[i]!) / sum), rest: (share * still[i]!) % sum }))
    for (const p of parts) give(p.r, p.base)
    const byRemainder = [...parts].sort((a, b) => b.rest - a.rest || byName(a.r.queue, b.r.queue))
    for (const p of byRemainder) if (left > 0 && p.rest > 0) give(p.r, 1)
  }
  return granted
}
