// Priority between a queue's levels (one consumer each, highest first), as pure decisions for the
// puller (./puller.ts): which level's job a free slot takes, and how many jobs of a level the worker
// may hold (buffered or asked for).

/** What the puller knows of one level when a slot is free. */
export interface LevelView {
  /** Jobs received and not started. */
  readonly held: number
  /** Jobs of higher levels started since the oldest held job was received. */
  readonly waited: number
  /** A job of this level is on its way: the consumer had jobs pending as the open pull went out (bounded by a grace time). */
  readonly expected: boolean
}

export type LevelPick =
  | { readonly _tag: "take"; readonly level: number }
  /** Only lower levels have a job while a higher one's is on its way: wait for it (briefly). */
  | { readonly _tag: "wait" }
  | { readonly _tag: "none" }

/**
 * The level whose oldest held job starts next: the highest one that holds a job, except that a level
 * whose oldest job has waited while `burst` jobs of higher levels started is overdue and goes first
 * (the highest overdue level when several are). A lower level's job does not start while a higher
 * level's job is expected (unless it is overdue).
 */
export const pickLevel = (levels: ReadonlyArray<LevelView>, burst: number): LevelPick => {
  const overdue = levels.findIndex((l) => l.held > 0 && l.waited >= burst)
  if (overdue >= 0) return { _tag: "take", level: overdue }
  for (const [level, l] of levels.entries()) {
    if (l.held > 0) return { _tag: "take", level }
    if (l.expected) return { _tag: "wait" }
  }
  return { _tag: "none" }
}

/**
 * How many jobs a level may hold, received or asked for. `room` is what a worker with one consumer
 * holds: its free slots plus the prefetch. The highest level gets all of it; a lower level what
 * higher levels leave of it (`heldAbove`: their jobs received, and asked for while they have jobs
 * pending), but always one, so that it progresses while higher levels keep the worker busy (that
 * job then waits at most `burst` higher starts).
 */
export const levelLimit = (level: number, room: number, heldAbove: number): number =>
  level === 0 ? room : Math.max(1, room - heldAbove)
