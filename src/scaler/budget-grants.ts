// The shared budget (`scaler.maxReplicas`) at run time: each queue says at its step what it wants
// (and its floor: minReplicas, a schedule's) and is granted its share (./budget.ts, pure). Replicas
// other queues still run or drain, or were just granted, are not granted again: a queue gets them
// once those have scaled in. One grant at a time, so two queues stepping at the same tick can't both
// take the same room. Without a budget a queue is granted what it wants.
import { Effect, Ref, Semaphore } from "effect"
import type { QueueConfig } from "../config/model.ts"
import { allocate } from "./budget.ts"
import type { QueueStatus } from "./reconcile.ts"

interface Want {
  readonly priority: number
  readonly wanted: number
  readonly floor: number
  readonly granted: number
}

export const makeBudgetGrants = (deps: {
  /** `scaler.maxReplicas` now; undefined without a budget. */
  readonly budget: Effect.Effect<number | undefined>
  /** The other running queues' last statuses (what they run and drain). */
  readonly others: (queue: string) => Effect.Effect<ReadonlyArray<{ readonly queue: string; readonly status: QueueStatus }>>
}) => Effect.gen(function*() {
  const wants = yield* Ref.make<ReadonlyMap<string, Want>>(new Map())
  const granting = yield* Semaphore.make(1)

  const grantFor = (q: Pick<QueueConfig, "name" | "priority">) => (wanted: number, floor = 0) => granting.withPermits(1)(Effect.gen(function*() {
    const budget = yield* deps.budget
    if (budget === undefined) return wanted
    const all = new Map(yield* Ref.get(wants)).set(q.name, { priority: q.priority, wanted, floor, granted: 0 })
    const share = allocate([...all].map(([queue, w]) => ({ queue, priority: w.priority, wanted: w.wanted, floor: w.floor })), budget).get(q.name) ?? 0
    const held = (yield* deps.others(q.name)).reduce((sum, o) => sum + Math.max(o.status.desired, all.get(o.queue)?.granted ?? 0) + o.status.draining, 0)
    const granted = Math.max(0, Math.min(share, budget - held))
    yield* Ref.set(wants, all.set(q.name, { priority: q.priority, wanted, floor, granted }))
    return granted
  }))

  return {
    grantFor,
    /** A queue stopped: its want goes. */
    forget: (queue: string) => Ref.update(wants, (all) => {
      if (!all.has(queue)) return all
      const next = new Map(all)
      next.delete(queue)
      return next
    }),
    forgetAll: Ref.set(wants, new Map())
  }
})
