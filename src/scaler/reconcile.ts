// One reconcile step of a queue, over one Ref of loop state: read the backlog, the runtime's workers
// and their reports; adopt what runs (once); reap workers that exited; ask the policy (or the
// override); start missing workers, drain surplus ones (idle first, never interrupting a job).
// Everything it touches comes in as a dependency, so tests drive it with a stand-in runtime and
// Effect's TestClock.
import { Clock, Duration, Effect, Ref } from "effect"
import type { QueueConfig } from "../config/model.ts"
import type { Backlog, BacklogError } from "../jetstream/backlog.ts"
import type { RuntimeDriver, RuntimeError, WorkerInfo } from "../runtime/driver.ts"
import * as Metrics from "../telemetry/metrics.ts"
import * as Tracing from "../telemetry/tracing.ts"
import type { Activator } from "./activator.ts"
import { canStart, noCrashes, recordCrash, recordHealthy, type CrashState } from "./crash-backoff.ts"
import type { ScaleEvent } from "./events.ts"
import { overrideDecision, type OverrideState } from "./override.ts"
import { addArrivalSample, observation, reportedInFlight, reportedMeanJobMs, type ArrivalSample } from "./observe.ts"
import { decide, fromQueueConfig, initialState, type Decision, type Observation, type PolicyConfig, type PolicyState } from "./policy.ts"
import { parseCron, scheduleFloor } from "./schedule.ts"
import { classify, isDraining, pickForScaleIn, reportsSuspending, type Replicas } from "./replicas.ts"
import type { QueueWorkerStates, WorkerStates } from "./worker-states.ts"

/** A manual override as the API shows it. */
export interface Override {
  readonly replicas: number
  /** RFC 3339. */
  readonly until: string
}

/** One queue as the scaler sees it (`status`, the admin API). */
export interface QueueStatus {
  readonly name: string
  readonly stream: string
  readonly consumer: string
  readonly pending: number | null
  readonly ackPending: number | null
  readonly desired: number
  /** Replicas serving the desired count. */
  readonly running: number
  /** Same as `running`, under the name `status --json` uses. */
  readonly replicas: number
  /** Replicas drained by a scale-in, finishing their jobs before they exit. */
  readonly draining: number
  /** `idle: suspend`: replicas frozen at idle (memory kept, no CPU), thawed by the next wake. */
  readonly suspended: number
  /** `idle: suspend`: replicas cordoned at a scale-in, finishing their jobs before they are frozen. */
  readonly suspending: number
  readonly lastDecision: { readonly kind: string; readonly reason: string; readonly at: string } | null
  readonly override: Override | null
  /** The last reconcile step's error while steps fail; null when the last one succeeded. */
  readonly reconcileError: string | null
  /** What the policy wants now (before step rules, delays and the budget). */
  readonly wanted: number
  /** What the shared budget (`scaler.maxReplicas`) grants; null without a budget. */
  readonly granted: number | null
  /** The signal whose desired count decided, when one did. */
  readonly signal: string | null
  /** A schedule in force: its floor, until when, and its cron. */
  readonly schedule: { readonly minReplicas: number; readonly until: string; readonly cron: string } | null
}

export const initialStatus = (q: QueueConfig): QueueStatus => ({
  name: q.name, stream: q.stream, consumer: q.consumer, pending: null, ackPending: null, desired: 0, running: 0, replicas: 0, draining: 0, suspended: 0, suspending: 0,
  lastDecision: null, override: null, reconcileError: null, wanted: 0, granted: null, signal: null, schedule: null
})

/** Everything a queue loop remembers between steps. */
export interface LoopState {
  /** Undefined until the running workers have been adopted. */
  readonly policy: PolicyState | undefined
  readonly crashes: CrashState
  /** Workers asked to drain for a scale-in (runtime ids): not counted as running; their exit is no crash. */
  readonly draining: ReadonlySet<string>
  /** Workers asked to suspend (`idle: suspend`) and not frozen yet (runtime ids): not counted as running. */
  readonly suspending: ReadonlySet<string>
  /** Workers that died unasked and were counted as crashes, until they are removed. */
  readonly counted: ReadonlySet<string>
  readonly lastDecision: QueueStatus["lastDecision"]
  /** The consumer's sequence numbers of the last steps: the arrival rate (the `rate` signal). */
  readonly arrivals: ReadonlyArray<ArrivalSample>
}

export const initialLoopState: LoopState = {
  policy: undefined, crashes: noCrashes, draining: new Set(), suspending: new Set(), counted: new Set(), lastDecision: null, arrivals: []
}

/** After a restart, how long adoption waits for every running worker's first report (they report every second). */
export const adoptionWaitMs = 2000

export interface ReconcileDeps {
  readonly q: QueueConfig
  readonly runtime: RuntimeDriver
  readonly backlog: Effect.Effect<Backlog, BacklogError>
  readonly workerStates: WorkerStates
  readonly activator: Pick<Activator, "takeSeen" | "set">
  readonly override: Ref.Ref<OverrideState | null>
  /** The environment of a new worker (see worker-env.ts). */
  readonly workerEnv: (instance: string) => Record<string, string>
  readonly newInstanceId: () => string
  readonly publishEvent: (event: ScaleEvent) => Effect.Effect<void>
  /** Called on a wake from zero, with the time the waking message was seen. */
  readonly onWake: (seenAtMs: number) => Effect.Effect<void>
  readonly report: (status: QueueStatus) => Effect.Effect<void>
  /** When the oldest waiting job was published (the `waitTime` signal); asked only of queues that scale on it. */
  readonly oldestWaitingAt?: (backlog: Backlog) => Effect.Effect<number | undefined, BacklogError>
  /** The shared budget: records what the queue wants and answers what it may run (absent: no budget). */
  readonly grant?: (wanted: number, floor?: number) => Effect.Effect<number>
  /** The time zone of schedules without their own (`scaler.timezone`). */
  readonly timezone?: string
}

const remove = <A>(set: ReadonlySet<A>, a: A): ReadonlySet<A> => {
  const next = new Set(set)
  next.delete(a)
  return next
}

/** The queue's schedule entries, parsed (the config checked them), in their time zones. */
const scheduleEntries = (q: QueueConfig, timezone: string) => (q.schedule ?? []).flatMap((e) => {
  const cron = parseCron(e.cron)
  return typeof cron === "string" ? [] : [{ cron, minReplicas: e.minReplicas, forMs: Duration.toMillis(e.for), timezone: e.timezone ?? timezone }]
})

/** The policy's decision when the budget grants less than it would run: capped, the reason saying so. */
const withinBudget = (observed: Observation, current: PolicyState, config: PolicyConfig, now: number, granted: number, wanted: number): Decision => {
  const capped = decide(observed, current, { ...config, maxReplicas: granted, minReplicas: Math.min(config.minReplicas, granted) }, now)
  return { ...capped, reason: `${capped.reason} (budget: granted ${granted} of ${wanted} wanted)` }
}

/** Builds the step and the Ref it keeps its state in. */
export const makeReconcile = (deps: ReconcileDeps) => Effect.gen(function*() {
  const { q, runtime } = deps
  const policy = fromQueueConfig(q)
  const schedule = scheduleEntries(q, deps.timezone ?? "UTC")
  const state = yield* Ref.make(initialLoopState)
  const log = (line: string) => Effect.logInfo(`queue ${q.name}: ${line}`)

  /** The override in force; one whose time is up is dropped here, and the policy resumes. */
  const currentOverride = (now: number) => Effect.gen(function*() {
    const o = yield* Ref.get(deps.override)
    if (o === null || now < o.untilMs) return o
    yield* Ref.set(deps.override, null)
    yield* log(`manual override of ${o.replicas} replica(s) ended; the policy resumes`)
    return null
  })

  const crashed = (now: number, what: string) => Effect.gen(function*() {
    yield* Metrics.recordWorkerCrash(q.name)
    const s = yield* Ref.updateAndGet(state, (s) => ({ ...s, crashes: recordCrash(s.crashes, now) }))
    yield* Effect.logWarning(`queue ${q.name}: ${what}; ${s.crashes.consecutive} in a row, next start in ${s.crashes.nextStartAt - now}ms or later`)
  })

  /**
   * Adopts the workers found running: those that say they drain stay draining. Until every running
   * worker has reported (or `adoptionWaitMs` has passed) it waits: false.
   */
  const adopt = (workers: ReadonlyArray<WorkerInfo>, now: number) => Effect.gen(function*() {
    const reports = yield* deps.workerStates.of(q.name)
    const alive = workers.filter((w) => w.state === "running")
    if (alive.some((w) => !reports.has(w.instance)) && now - deps.workerStates.since < adoptionWaitMs) return false
    const draining = alive.filter((w) => isDraining(w, new Set(), reports))
    const suspending = alive.filter((w) => !draining.includes(w) && reportsSuspending(w, reports))
    const frozen = workers.filter((w) => w.state === "paused").length
    const running = alive.length - draining.length - suspending.length
    if (alive.length + frozen > 0) {
      const others = [[draining.length, "draining"], [suspending.length, "suspending"], [frozen, "suspended"]].flatMap(([n, what]) => n ? [`${n} ${what}`] : [])
      yield* log(`adopted ${running} running worker(s)${others.length > 0 ? ` and ${others.join(", ")}` : ""}`)
    }
    yield* Ref.update(state, (s) => ({
      ...s,
      draining: new Set([...s.draining, ...draining.map((w) => w.id)]),
      suspending: new Set([...s.suspending, ...suspending.map((w) => w.id)]),
      policy: running > 0 ? { ...initialState(running), lastChangeAt: now } : initialState(0)
    }))
    return true
  })

  /** Removes workers that exited; one that exited unasked feeds the crash-loop backoff once. */
  const reap = (exited: ReadonlyArray<WorkerInfo>, now: number) => Effect.forEach(exited, (w) => Effect.gen(function*() {
    const s = yield* Ref.get(state)
    if (isDraining(w, s.draining, yield* deps.workerStates.of(q.name))) {
      yield* log(`worker ${w.name} drained and exited`)
    } else if (!s.counted.has(w.id)) {
      yield* Ref.update(state, (s) => ({ ...s, counted: new Set(s.counted).add(w.id) }))
      yield* crashed(now, `worker ${w.name} ${w.exitCode === 0 ? "exited by itself" : `died (exit ${w.exitCode ?? "?"})`}: unexpected exit`)
    }
    yield* runtime.remove(w).pipe(
      Effect.andThen(Ref.update(state, (s) => ({ ...s, counted: remove(s.counted, w.id), draining: remove(s.draining, w.id), suspending: remove(s.suspending, w.id) }))),
      Effect.catch((e) => Effect.logError(`queue ${q.name}: ${e.message}`))
    )
  }), { discard: true })

  /** Starts one worker; false when it could not be started. Its startup joins the current trace. */
  const startWorker = Effect.gen(function*() {
    const instance = deps.newInstanceId()
    const traceparent = yield* Tracing.currentTraceparent
    const env = { ...deps.workerEnv(instance), ...(traceparent ? { JETSCALE_TRACEPARENT: traceparent } : {}) }
    return yield* runtime.start({ queue: q, instance, env }).pipe(
      Effect.tap((w) => log(`started worker ${w.name}`)),
      Effect.as(true),
      Effect.catch((e) => Effect.logError(`queue ${q.name}: ${e.message}`).pipe(Effect.as(false)))
    )
  }).pipe(Effect.withSpan("worker start", { attributes: { "jetscale.queue": q.name, "jetscale.runtime": runtime.name, ...(q.image ? { "container.image.name": q.image } : {}) } }))

  /**
   * Asks the runtime to act on a worker, then records it in the loop state and logs `line`; the
   * worker's id, or none when the runtime failed (logged: the next step tries again).
   */
  const actOn = (w: WorkerInfo, act: Effect.Effect<void, RuntimeError>, update: (s: LoopState) => LoopState, line: string) =>
    act.pipe(
      Effect.andThen(Ref.update(state, update)),
      Effect.andThen(log(line)),
      Effect.as([w.id]),
      Effect.catch((e) => Effect.logError(`queue ${q.name}: ${e.message}`).pipe(Effect.as([] as ReadonlyArray<string>)))
    )

  const inFlightText = (inFlight: number | undefined) => inFlight === undefined ? "jobs in flight unknown" : `${inFlight} job(s) in flight`

  /** Asks a worker to drain; it finishes its jobs and exits by itself. */
  const drainWorker = (w: WorkerInfo, inFlight: number | undefined) =>
    actOn(w, runtime.drain(w), (s) => ({ ...s, draining: new Set(s.draining).add(w.id) }),
      `draining worker ${w.name} (${inFlightText(inFlight)}); it exits when they are done`)

  /** `idle: suspend`: asks a worker to cordon; it is frozen once it reports `suspended`. */
  const suspendWorker = (w: WorkerInfo, inFlight: number | undefined) =>
    actOn(w, runtime.suspend(w), (s) => ({ ...s, suspending: new Set(s.suspending).add(w.id) }),
      `suspending worker ${w.name} (${inFlightText(inFlight)}); frozen when they are done`)

  /** Thaws a suspended (or still suspending) worker: it pulls again at once. */
  const thawWorker = (w: WorkerInfo) =>
    actOn(w, runtime.thaw(w), (s) => ({ ...s, suspending: remove(s.suspending, w.id) }), `thawed worker ${w.name}`)

  /**
   * Starts (thawing suspended replicas first), drains or suspends workers towards the decision;
   * returns how many run, drain, and were suspended or thawed, afterwards.
   */
  const converge = (decision: Decision, replicas: Replicas, now: number) => Effect.gen(function*() {
    const running = replicas.running
    const missing = decision.replicas - running.length
    const none = { drained: 0, thawed: [] as ReadonlyArray<string> }
    if (missing > 0) {
      // A cordoned replica is resumed before a frozen one is thawed, and both before a start.
      const idle = [...replicas.suspending, ...replicas.suspended].slice(0, missing)
      const thawed = (yield* Effect.forEach(idle, thawWorker, { concurrency: "unbounded" })).flat()
      const toStart = missing - thawed.length
      if (toStart === 0 || !canStart((yield* Ref.get(state)).crashes, now)) return { ...none, running: running.length + thawed.length, thawed }
      const started = (yield* Effect.forEach(Array.from({ length: toStart }), () => startWorker, { concurrency: "unbounded" })).filter(Boolean).length
      if (started < toStart) yield* crashed(now, `${toStart - started} of ${toStart} worker start(s) failed`)
      return { ...none, running: running.length + thawed.length + started, thawed }
    }
    if (missing < 0) {
      const reports = yield* deps.workerStates.of(q.name)
      const victims = pickForScaleIn(running, reports, -missing)
      if (q.idle === "suspend") {
        const suspended = (yield* Effect.forEach(victims, (w) => suspendWorker(w, reports.get(w.instance)?.inFlight))).flat().length
        return { ...none, running: running.length - suspended }
      }
      const drained = (yield* Effect.forEach(victims, (w) => drainWorker(w, reports.get(w.instance)?.inFlight))).flat().length
      return { ...none, running: running.length - drained, drained }
    }
    return { ...none, running: running.length }
  })

  /** Freezes the cordoned replicas that report `suspended` (no job, no pull open); returns their ids. */
  const freezeIdle = (suspending: ReadonlyArray<WorkerInfo>, reports: QueueWorkerStates) =>
    Effect.forEach(suspending.filter((w) => reports.get(w.instance)?.state === "suspended"), (w) =>
      actOn(w, runtime.freeze(w), (s) => ({ ...s, suspending: remove(s.suspending, w.id) }), `suspended worker ${w.name} (frozen)`)
    ).pipe(Effect.map((ids) => ids.flat()))

  const step = Effect.gen(function*() {
    const backlog = yield* deps.backlog
    const workers = yield* runtime.list(q.name)
    const now = yield* Clock.currentTimeMillis
    if ((yield* Ref.get(state)).policy === undefined && !(yield* adopt(workers, now))) return
    const seen = yield* deps.activator.takeSeen
    const reports = yield* deps.workerStates.of(q.name)
    const loop = yield* Ref.get(state)
    const replicas = classify(workers, loop.draining, reports, loop.suspending)
    const { running, draining, exited } = replicas
    yield* reap(exited, now)
    yield* deps.workerStates.retain(q.name, new Set([...running, ...draining, ...replicas.suspending, ...replicas.suspended].map((w) => w.instance)))
    const frozen = yield* freezeIdle(replicas.suspending, reports)
    const s = yield* Ref.updateAndGet(state, (s) => ({ ...s, crashes: recordHealthy(s.crashes, running.map((w) => w.startedAt), now) }))
    const current = s.policy!
    // At zero, a message the activator saw may not be in the consumer's counts yet.
    const effective = current.replicas === 0 ? Math.max(backlog.total, seen.count) : backlog.total
    const arrivals = addArrivalSample(s.arrivals, backlog, now)
    yield* Ref.update(state, (s) => ({ ...s, arrivals }))
    const observed = observation({
      backlog: { ...backlog, pending: backlog.pending + (effective - backlog.total) },
      oldestWaitingAt: policy.signals?.includes("waitTime") && deps.oldestWaitingAt ? yield* deps.oldestWaitingAt(backlog) : undefined,
      now,
      inFlight: reportedInFlight(reports, running.map((w) => w.instance)),
      arrivals,
      meanJobMs: reportedMeanJobMs(reports)
    })
    const floor = scheduleFloor(schedule, now)
    const scheduled = floor === undefined ? policy : { ...policy, minReplicas: Math.min(policy.maxReplicas, Math.max(policy.minReplicas, floor.minReplicas)) }
    const override = yield* currentOverride(now)
    const free = overrideDecision(override, current, now) ?? decide(observed, current, scheduled, now)
    // At zero and staying there (below activation) the queue wants nothing of the budget.
    const wanted = override ? free.replicas : current.replicas === 0 && free.replicas === 0 ? 0 : free.wanted
    // The budget is asked for what the queue would run now: replicas kept through a scale-down delay count.
    const granted = deps.grant ? yield* deps.grant(Math.max(wanted, free.replicas), scheduled.minReplicas) : undefined
    const decision = override || granted === undefined || granted >= free.replicas ? free : withinBudget(observed, current, scheduled, now, granted, wanted)
    const changed = decision.replicas !== current.replicas
    const direction = decision.replicas > current.replicas ? "up" : "down"
    const lastDecision = changed ? { kind: decision.kind, reason: decision.reason, at: new Date(now).toISOString() } : s.lastDecision
    yield* Ref.update(state, (s) => ({ ...s, policy: decision.state, lastDecision }))
    if (changed) {
      yield* Metrics.recordScaleEvent(q.name, direction)
      if (decision.kind === "wake") yield* deps.onWake(seen.firstAt ?? now)
    }
    const act = Effect.gen(function*() {
      if (changed) {
        yield* deps.publishEvent({
          queue: q.name, from: current.replicas, to: decision.replicas, direction, kind: decision.kind,
          reason: `pending ${backlog.pending} + ackPending ${backlog.ackPending}${seen.count > 0 ? ` (activator saw ${seen.count} new)` : ""}: ${decision.reason}`,
          backlog: effective, pending: backlog.pending, ackPending: backlog.ackPending, at: new Date(now).toISOString()
        })
      }
      return yield* converge(decision, replicas, now)
    })
    // A scale decision is a span; a wake-up from zero joins (and links to) the trace of the job that woke it.
    const woke = decision.kind === "wake" ? Tracing.externalSpanFrom(seen.first) : undefined
    const after = yield* (changed
      ? act.pipe(Effect.withSpan(`scale ${q.name}`, {
        attributes: { "jetscale.queue": q.name, "jetscale.backlog": effective, "jetscale.from": current.replicas, "jetscale.to": decision.replicas, "jetscale.kind": decision.kind, "jetscale.reason": decision.reason },
        ...(woke ? { parent: woke, links: [{ span: woke, attributes: { "jetscale.link": "the job that woke the queue" } }] } : { root: true })
      }))
      : act)
    // Held at zero by the budget, the queue steps on ticks: a wake per message would only ask again.
    yield* deps.activator.set(decision.replicas === 0 && !(granted === 0 && wanted > 0))
    const drainingNow = draining.length + after.drained
    const thawed = new Set(after.thawed)
    const suspendedNow = [...replicas.suspended.map((w) => w.id), ...frozen].filter((id) => !thawed.has(id)).length
    const suspendingNow = (yield* Ref.get(state)).suspending.size
    yield* Metrics.recordQueue(q.name, {
      pending: backlog.pending, ackPending: backlog.ackPending, desired: decision.replicas, running: after.running, draining: drainingNow,
      suspended: suspendedNow + suspendingNow
    })
    yield* deps.report({
      ...initialStatus(q), pending: backlog.pending, ackPending: backlog.ackPending, desired: decision.replicas,
      running: after.running, replicas: after.running, draining: drainingNow, suspended: suspendedNow, suspending: suspendingNow, lastDecision,
      override: override ? { replicas: override.replicas, until: new Date(override.untilMs).toISOString() } : null,
      wanted, granted: granted ?? null, signal: free.signal ?? null,
      schedule: floor === undefined ? null : { minReplicas: floor.minReplicas, until: new Date(floor.until).toISOString(), cron: floor.cron }
    })
  })

  return { step, state }
})
