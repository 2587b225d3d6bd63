// One queue's reconcile loop: on every tick of `scaler.interval` (a Schedule) and on every activator
// wake, read the backlog, ask the policy, and make the runtime match: start missing workers (with a
// crash-loop backoff), replace dead ones, and drain surplus ones gracefully in the background.
import { Clock, Duration, Effect, Queue, Ref, Schedule } from "effect"
import { randomBytes } from "node:crypto"
import type { QueueConfig } from "../config/model.ts"
import { readBacklog } from "../jetstream/backlog.ts"
import type { Nats } from "../nats/connection.ts"
import type { RuntimeDriver, WorkerInfo } from "../runtime/driver.ts"
import { makeActivator } from "./activator.ts"
import { canStart, noCrashes, recordCrash, recordHealthy } from "./crash-backoff.ts"
import { publishScaleEvent } from "./events.ts"
import { decide, fromQueueConfig, initialState, type Decision } from "./policy.ts"
import { workerEnv } from "./worker-env.ts"

export interface QueueStatus {
  readonly name: string
  readonly desired: number
  readonly running: number
  readonly lastDecision: { readonly kind: string; readonly reason: string; readonly at: string } | null
}

export interface QueueLoopDeps {
  readonly nats: Nats["Service"]
  readonly runtime: RuntimeDriver
  /** NATS URL handed to workers. */
  readonly workerNatsUrl: string
  readonly interval: Duration.Duration
  readonly report: (status: QueueStatus) => Effect.Effect<void>
}

const newInstanceId = () => randomBytes(4).toString("hex")

/** Runs until interrupted; every reconcile error is logged and retried on the next tick. */
export const runQueueLoop = (q: QueueConfig, deps: QueueLoopDeps) => Effect.gen(function*() {
  const { nats, runtime } = deps
  const policy = fromQueueConfig(q)
  const signal = yield* Queue.sliding<"tick" | "wake">(1)
  const activator = makeActivator(nats.nc, q.subjects, () => void Queue.offerUnsafe(signal, "wake"))
  yield* Effect.addFinalizer(() => activator.close)

  // Adopt what already runs: a restarted scaler carries on with the workers it finds.
  const adopted = (yield* runtime.list(q.name).pipe(Effect.orElseSucceed((): ReadonlyArray<WorkerInfo> => [])))
    .filter((w) => w.state === "running").length
  const state = yield* Ref.make(adopted > 0 ? { ...initialState(adopted), lastChangeAt: yield* Clock.currentTimeMillis } : initialState(0))
  if (adopted > 0) yield* Effect.logInfo(`queue ${q.name}: adopted ${adopted} running worker(s)`)
  const crashes = yield* Ref.make(noCrashes)
  const stopping = new Set<string>()
  let lastDecision: QueueStatus["lastDecision"] = null

  /** Starts one worker; false when it could not be started (counted like a crash). */
  const startWorker = Effect.gen(function*() {
    const instance = newInstanceId()
    return yield* runtime.start({ queue: q, instance, env: workerEnv(q, instance, deps.workerNatsUrl) }).pipe(
      Effect.tap((w) => Effect.logInfo(`queue ${q.name}: started worker ${w.name}`)),
      Effect.as(true),
      Effect.catch((e) => Effect.gen(function*() {
        const next = yield* Ref.updateAndGet(crashes, (s) => recordCrash(s, Date.now()))
        yield* Effect.logError(`queue ${q.name}: ${e.message} (start attempt ${next.consecutive}, next try in ${next.nextStartAt - Date.now()}ms)`)
        return false
      }))
    )
  })

  const stopWorker = (w: WorkerInfo) => {
    stopping.add(w.instance)
    return runtime.stop(q.name, w.instance, q.stopTimeout).pipe(
      Effect.tap(() => Effect.logInfo(`queue ${q.name}: stopped worker ${w.name}`)),
      Effect.catch((e) => Effect.logError(`queue ${q.name}: ${e.message}`)),
      Effect.ensuring(Effect.sync(() => stopping.delete(w.instance))),
      Effect.forkScoped
    )
  }

  /** Removes workers that exited without being asked to; each such exit feeds the crash-loop backoff. */
  const reapExited = (workers: ReadonlyArray<WorkerInfo>, now: number) =>
    Effect.forEach(workers.filter((w) => w.state === "exited" && !stopping.has(w.instance)), (w) => Effect.gen(function*() {
      const next = yield* Ref.updateAndGet(crashes, (s) => recordCrash(s, now))
      yield* Effect.logWarning(`queue ${q.name}: worker ${w.name} ${w.exitCode === 0 ? "exited by itself" : `died (exit ${w.exitCode ?? "?"})`}; ` +
        `unexpected exit ${next.consecutive} in a row, next start in ${next.nextStartAt - now}ms or later`)
      yield* runtime.remove(q.name, w.instance).pipe(Effect.catch((e) => Effect.logError(`queue ${q.name}: ${e.message}`)))
    }), { discard: true })

  /** Starts or drains workers towards the decision; returns how many run (or start) afterwards. */
  const converge = (decision: Decision, running: ReadonlyArray<WorkerInfo>, now: number) => Effect.gen(function*() {
    const missing = decision.replicas - running.length
    if (missing > 0) {
      if (!canStart(yield* Ref.get(crashes), now)) return running.length
      const started = yield* Effect.forEach(Array.from({ length: missing }), () => startWorker, { concurrency: "unbounded" })
      return running.length + started.filter(Boolean).length
    }
    if (missing < 0) {
      // Newest first: the oldest workers have warm caches and connections.
      const surplus = [...running].sort((a, b) => b.startedAt - a.startedAt).slice(0, -missing)
      yield* Effect.forEach(surplus, stopWorker, { discard: true })
    }
    return Math.min(running.length, decision.replicas)
  })

  const reconcile = Effect.gen(function*() {
    const backlog = yield* readBacklog(nats.jsm, q)
    const seen = yield* activator.takeSeen
    const workers = yield* runtime.list(q.name)
    const now = yield* Clock.currentTimeMillis
    yield* reapExited(workers, now)
    const running = workers.filter((w) => w.state === "running" && !stopping.has(w.instance))
    yield* Ref.update(crashes, (s) => recordHealthy(s, Math.min(...running.map((w) => w.startedAt)), now))
    const current = yield* Ref.get(state)
    // At zero, a message the activator saw may not be in the consumer's counts yet.
    const effective = current.replicas === 0 ? Math.max(backlog.total, seen) : backlog.total
    const decision = decide(effective, current, policy, now)
    yield* Ref.set(state, decision.state)
    if (decision.replicas !== current.replicas) {
      lastDecision = { kind: decision.kind, reason: decision.reason, at: new Date(now).toISOString() }
      yield* publishScaleEvent(nats.nc, {
        queue: q.name, from: current.replicas, to: decision.replicas, direction: decision.replicas > current.replicas ? "up" : "down",
        kind: decision.kind, reason: `pending ${backlog.pending} + ackPending ${backlog.ackPending}${seen > 0 ? ` (activator saw ${seen} new)` : ""}: ${decision.reason}`,
        backlog: effective, pending: backlog.pending, ackPending: backlog.ackPending, at: new Date(now).toISOString()
      })
    }
    const runningNow = yield* converge(decision, running, now)
    yield* activator.set(decision.replicas === 0)
    yield* deps.report({ name: q.name, desired: decision.replicas, running: runningNow, lastDecision })
  }).pipe(
    Effect.catch((e) => Effect.logWarning(`queue ${q.name}: ${e.message}`)),
    Effect.withSpan("scaler.reconcile", { attributes: { "jetscale.queue": q.name } })
  )

  yield* Queue.offer(signal, "tick").pipe(Effect.repeat(Schedule.spaced(deps.interval)), Effect.forkScoped)
  return yield* Queue.take(signal).pipe(Effect.andThen(reconcile), Effect.forever)
})
