// How the worker loop gets its next unit of work, one job or one batch. A running worker takes from
// the puller (./puller.ts): the first job, then what arrives within the batch timeout, up to the
// batch size. A job-mode worker pulls exactly what it will run: one job within its wait, then (a
// batch) one more pull for the rest, so it never holds a job it would have to hand back. With levels
// (several consumers) it reads which levels have jobs pending and pulls from the highest of them.
import type { Consumer, JsMsg } from "@nats-io/jetstream"
import type { BatchLimits } from "./batch-options.ts"
import { errorText } from "./job.ts"
import type { Puller } from "./puller.ts"

/** Keeps a delivered job (true), or has dealt with it otherwise, e.g. moved it to the delayed stream (false). */
export type Admit = (m: JsMsg) => boolean

/** The next unit from the puller; undefined once the puller has ended. */
export const takeUnit = async (puller: Puller, limits: BatchLimits, admit: Admit): Promise<ReadonlyArray<JsMsg> | undefined> => {
  let first: JsMsg | undefined
  do first = await puller.next()
  while (first !== undefined && !admit(first))
  if (first === undefined) return undefined
  const unit = [first]
  const deadline = performance.now() + limits.timeoutMs
  while (unit.length < limits.size) {
    const m = await puller.next(deadline - performance.now())
    if (m === undefined) break
    if (admit(m)) unit.push(m)
  }
  return unit
}

/** nats.js refuses a pull request shorter than this. */
const minPullMs = 1000
const maxPullMs = 2000
const retryAfterErrorMs = 1000

export interface TakeOnceOptions {
  readonly limits: BatchLimits
  readonly waitMs: number
  /** Aborted by a stop or a drain: no further pull for the first job. */
  readonly stop: AbortSignal
  readonly admit: Admit
  readonly log: (line: string) => void
}

/**
 * Job mode: the first job within `waitMs`, then for a batch the rest (see `restOfBatch`). Empty when
 * no job came. One consumer: pulls of at most 2 s, so a stop is heard. Several (levels, highest
 * first): see `firstByLevel`.
 */
export const takeOnce = async (consumers: ReadonlyArray<Consumer>, o: TakeOnceOptions): Promise<ReadonlyArray<JsMsg>> => {
  const first = consumers.length === 1 ? await firstOf(consumers[0]!, o) : await firstByLevel(consumers, o)
  if (first === undefined) return []
  return o.limits.size === 1 ? [first.m] : [first.m, ...await restOfBatch(consumers, first.level, o)]
}

interface First {
  readonly m: JsMsg
  /** The index of its consumer. */
  readonly level: number
}

/** What is left after a pull is none or at least a pull's minimum. */
const expiresWithin = (left: number, longest: number) => left <= longest ? left : Math.min(longest, left - minPullMs)

const pullOne = async (consumer: Consumer, expires: number, o: TakeOnceOptions, deadline: number): Promise<JsMsg | undefined> => {
  try {
    const m = await consumer.next({ expires })
    return m !== null && o.admit(m) ? m : undefined
  } catch (e) {
    o.log(`pull failed, retrying in ${retryAfterErrorMs}ms: ${errorText(e)}`)
    await new Promise((r) => setTimeout(r, Math.min(retryAfterErrorMs, Math.max(0, deadline - Date.now() - minPullMs))))
    return undefined
  }
}

const firstOf = async (consumer: Consumer, o: TakeOnceOptions): Promise<First | undefined> => {
  const deadline = Date.now() + o.waitMs
  for (let left = o.waitMs; !o.stop.aborted && left >= minPullMs; left = deadline - Date.now()) {
    const m = await pullOne(consumer, expiresWithin(left, maxPullMs), o, deadline)
    if (m !== undefined) return { m, level: 0 }
  }
  return undefined
}

/** Each consumer's pending jobs now (0 for one that can't be read). */
const pendingOf = (consumers: ReadonlyArray<Consumer>): Promise<ReadonlyArray<number>> =>
  Promise.all(consumers.map((c) => c.info().then((i) => i.num_pending, () => 0)))

/**
 * The first job with levels: from the highest level that has jobs pending (read afresh before each
 * pull); when none has, pulls of 1 s from each level in turn, since a job redelivered after its ack
 * wait is not counted as pending. A job that comes meanwhile is seen within about a second.
 */
const firstByLevel = async (consumers: ReadonlyArray<Consumer>, o: TakeOnceOptions): Promise<First | undefined> => {
  const deadline = Date.now() + o.waitMs
  let turn = 0
  for (let left = o.waitMs; !o.stop.aborted && left >= minPullMs; left = deadline - Date.now()) {
    const top = (await pendingOf(consumers)).findIndex((n) => n > 0)
    const level = top >= 0 ? top : turn++ % consumers.length
    left = deadline - Date.now()
    if (left < minPullMs || o.stop.aborted) break
    const m = await pullOne(consumers[level]!, left < 2 * minPullMs ? left : minPullMs, o, deadline)
    if (m !== undefined) return { m, level }
  }
  return undefined
}

/**
 * The rest of a job-mode batch: one consumer, one pull of `size - 1` open for the batch timeout (at
 * least 1 s, the shortest pull). Levels: highest first, from each what it has pending; when none has
 * any, one pull from the first job's level as with one consumer.
 */
const restOfBatch = async (consumers: ReadonlyArray<Consumer>, firstLevel: number, o: TakeOnceOptions): Promise<ReadonlyArray<JsMsg>> => {
  const rest: Array<JsMsg> = []
  const expires = Math.max(minPullMs, o.limits.timeoutMs)
  const pending = consumers.length === 1 ? [] : await pendingOf(consumers)
  const plan = pending.some((n) => n > 0)
    ? pending.map((n, level) => ({ level, count: n })).filter((p) => p.count > 0)
    : [{ level: firstLevel, count: Infinity }]
  try {
    for (const p of plan) {
      const count = Math.min(p.count, o.limits.size - 1 - rest.length)
      if (count <= 0) break
      const batch = await consumers[p.level]!.fetch({ max_messages: count, expires })
      for await (const m of batch) if (o.admit(m)) rest.push(m)
    }
  } catch (e) {
    o.log(`pull for the rest of the batch failed, running ${rest.length + 1} job(s): ${errorText(e)}`)
  }
  return rest
}
