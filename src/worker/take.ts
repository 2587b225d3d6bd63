// How the worker loop gets its next unit of work, one job or one batch. A running worker takes from
// the puller (./puller.ts): the first job, then what arrives within the batch timeout, up to the
// batch size. A job-mode worker pulls exactly what it will run: one job within its wait, then (a
// batch) one more pull for the rest, so it never holds a job it would have to hand back.
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
 * Job mode: the first job within `waitMs` (pulls of at most 2 s, so a stop is heard), then for a
 * batch one pull of `size - 1` open for the batch timeout (at least 1 s, the shortest pull). Empty
 * when no job came.
 */
export const takeOnce = async (consumer: Consumer, o: TakeOnceOptions): Promise<ReadonlyArray<JsMsg>> => {
  const unit: Array<JsMsg> = []
  const deadline = Date.now() + o.waitMs
  for (let left = o.waitMs; unit.length === 0 && !o.stop.aborted && left >= minPullMs; left = deadline - Date.now()) {
    // What is left after a pull is none or at least a pull's minimum.
    const expires = left <= maxPullMs ? left : Math.min(maxPullMs, left - minPullMs)
    try {
      const m = await consumer.next({ expires })
      if (m !== null && o.admit(m)) unit.push(m)
    } catch (e) {
      o.log(`pull failed, retrying in ${retryAfterErrorMs}ms: ${errorText(e)}`)
      await new Promise((r) => setTimeout(r, Math.min(retryAfterErrorMs, Math.max(0, deadline - Date.now() - minPullMs))))
    }
  }
  if (unit.length === 0 || o.limits.size === 1) return unit
  try {
    const rest = await consumer.fetch({ max_messages: o.limits.size - 1, expires: Math.max(minPullMs, o.limits.timeoutMs) })
    for await (const m of rest) if (o.admit(m)) unit.push(m)
  } catch (e) {
    o.log(`pull for the rest of the batch failed, running ${unit.length} job(s): ${errorText(e)}`)
  }
  return unit
}
