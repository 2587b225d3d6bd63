// The scaler service: provisions every queue, runs one reconcile fiber per queue (a slow queue does
// not hold up the others) and the dead-letter processor, answers status requests on
// `jetscale.api.status`, and takes manual overrides (the admin API). `apply` takes a new config
// while running (a live reload, ./reload.ts): added queues are provisioned and start, removed ones
// stop and their workers drain, changed ones restart their loop with the new settings.
import { Cause, Clock, Context, Duration, Effect, Exit, Layer, Queue, Ref, Schedule, Scope, Semaphore, Stream, SubscriptionRef } from "effect"
import { LiveConfig, layer as liveConfigLayer } from "../config/live.ts"
import type { JetscaleConfig, QueueConfig } from "../config/model.ts"
import { provisionDeadLettering } from "../dlq/provision.ts"
import { formatByteSize, formatShortDuration } from "../config/duration.ts"
import { provisionLogs } from "../logs/provision.ts"
import { runDeadLetterProcessor } from "../dlq/processor.ts"
import { provisionDelayed } from "../delay/provision.ts"
import { runDelayReleaser } from "../delay/releaser.ts"
import { ProvisionError, provisionQueue, streamProblems, type KnownStreams } from "../jetstream/provision.ts"
import { readStreamLevels, readStreams, type StreamLevels } from "../jetstream/stream-levels.ts"
import { defaultDeployment, statusSubjectOf } from "../jetstream/names.ts"
import { Nats } from "../nats/connection.ts"
import { onEachMessage } from "../nats/subscription.ts"
import { queueWorkerCredentials } from "../nats/worker-credentials.ts"
import { Runtime } from "../runtime/driver.ts"
import { parseJobReport } from "../telemetry/job-report.ts"
import * as Metrics from "../telemetry/metrics.ts"
import { diffConfig, type ConfigDiff } from "./config-diff.ts"
import { fenceRuntime } from "./fenced-runtime.ts"
import { makeBudgetGrants } from "./budget-grants.ts"
import { openLeases, runElection, type ElectionState } from "./leadership.ts"
import type { ScaleEvent } from "./events.ts"
import { makeOverrideActions, type OverrideError } from "./override-actions.ts"
import { initialStatus, makeQueueControl, runQueueLoop, type Override, type QueueControl, type QueueStatus } from "./queue-loop.ts"
import { retireRemovedQueues } from "./retire.ts"
import { trackWorkerStates } from "./worker-states.ts"

/** Request-reply subject the CLI's `status` asks for the scaler's view (desired replicas, last decision), of the default deployment. */
export const statusSubject = statusSubjectOf(defaultDeployment)

export { OverrideError } from "./override-actions.ts"

export class Scaler extends Context.Service<Scaler, {
  readonly status: Effect.Effect<ReadonlyArray<QueueStatus>>
  /** Pins a queue's replica count for `ttl`; the policy resumes afterwards. */
  readonly setOverride: (queue: string, replicas: number, ttl: Duration.Duration) => Effect.Effect<Override, OverrideError>
  /** Ends an override early; false when there was none. */
  readonly clearOverride: (queue: string) => Effect.Effect<boolean, OverrideError>
  /**
   * Whether NATS and the runtime answer, the queues whose reconcile steps fail (name -> error), and
   * why a scaler that holds the lease could not take over (then it is not ready).
   */
  readonly ready: Effect.Effect<{
    readonly nats: boolean
    readonly runtime: boolean
    readonly failingQueues: Readonly<Record<string, string>>
    readonly takeOverFailing?: string
  }>
  /** The latest scale decisions of every queue, newest first (at most {@link recentDecisionsKept}). */
  readonly recentDecisions: Effect.Effect<ReadonlyArray<ScaleEvent>>
  /** This scaler's id and role, and the leader it knows of (high availability: ./leadership.ts). */
  readonly role: Effect.Effect<{ readonly id: string } & ElectionState>
  /**
   * Runs `config` from now on (a live reload) and says what changed. Fails, leaving the running
   * config in place, when a queue's stream or consumer cannot be made to match it.
   */
  readonly apply: (config: JetscaleConfig) => Effect.Effect<ConfigDiff, ProvisionError>
}>()("jetscale/Scaler") {}

export const recentDecisionsKept = 100
const provisionConcurrency = 16
/** How often quiet queues' stream levels are read at most (see ./queue-loop.ts). */
const quietLevelsEveryMs = 5000

/** Runs `loop` until its scope closes; if it ends, fails or dies, it is logged and started again. */
const supervised = <E, R>(name: string, loop: Effect.Effect<unknown, E, R>) =>
  loop.pipe(
    Effect.catchCause((cause) => Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : Effect.logError(`${name} failed, restarting in 1s`, cause)),
    Effect.andThen(Effect.sleep("1 second")),
    Effect.forever,
    Effect.forkScoped
  )

const withoutMaxReplicas = ({ maxReplicas: _, ...rest }: JetscaleConfig["scaler"]) => rest

/** A running queue: its config, its loop's scope (closed to stop it), its control and its status. */
interface QueueEntry {
  readonly config: QueueConfig
  readonly scope: Scope.Closeable
  readonly control: QueueControl
  readonly status: Ref.Ref<QueueStatus>
}

/** The scaler, on the running config of {@link LiveConfig}. */
export const layerLive = Layer.effect(Scaler, Effect.gen(function*() {
  const nats = yield* Nats
  const driver = yield* Runtime
  const live = yield* LiveConfig
  const config = yield* live.get
  const scope = yield* Effect.scope
  yield* driver.ping

  // A queue whose stream another deployment owns (or that would need a recreate) is refused at
  // once, also by a scaler that will stand by: it would only find out when it takes over.
  // One stream list instead of a lookup per queue: 1,000 queues are checked and provisioned in seconds.
  const listStreams = readStreams(nats.jsm, (info) => ({ config: info.config })).pipe(
    Effect.mapError((e) => new ProvisionError({ message: e.message, cause: e.cause })))
  const checkStreams = (queues: ReadonlyArray<QueueConfig>, deployment: string, known?: KnownStreams) => Effect.gen(function*() {
    if (queues.length === 0) return
    const problems = streamProblems(queues, deployment, known ?? (yield* listStreams))
    if (problems.length > 0) return yield* new ProvisionError({ message: problems.join("; ") })
  })
  const startStreams = yield* listStreams
  yield* checkStreams(config.queues, config.deployment, startStreams)

  // Several scalers may run this config: one leads (provisions, reconciles, sweeps the DLQ, takes
  // overrides); the others stand by and take over when its lease runs out. Every worker action is
  // fenced by the lease.
  const leases = yield* openLeases(nats, config.jetstream.replicas)
  const election = yield* runElection({ nats, kv: leases, deployment: config.deployment, lease: config.scaler.lease })
  const runtime = fenceRuntime(driver, election.mayAct)

  // A few queues at a time: provisioning does not flood the server. `known`: a fresh stream list.
  const provisionQueues = (queues: ReadonlyArray<QueueConfig>, deployment: string, known?: KnownStreams) => Effect.gen(function*() {
    if (queues.length === 0) return
    const streams = known ?? (yield* listStreams)
    yield* Effect.forEach(queues, (q) => provisionQueue(nats.jsm, q, deployment, streams).pipe(
      Effect.tap((result) => Effect.logInfo(`queue ${q.name}: stream ${q.stream} ${result.stream}, consumer ${q.consumer} ${result.consumer}`))
    ), { concurrency: provisionConcurrency, discard: true })
  })
  const provisionDlq = (c: JetscaleConfig) =>
    provisionDeadLettering(nats.jsm, c.queues, { maxBytes: c.dlq.maxBytes, deployment: c.deployment, replicas: c.jetstream.replicas }).pipe(
      Effect.andThen(provisionDelayed(nats.jsm, c.queues, { deployment: c.deployment, replicas: c.jetstream.replicas })))

  // The running queues (none while standing by): the one Ref that `apply` and leadership change.
  const entries = yield* Ref.make<ReadonlyMap<string, QueueEntry>>(new Map())
  const entryOf = (queue: string) => Effect.map(Ref.get(entries), (all) => all.get(queue))
  const ownStatus = Effect.flatMap(Ref.get(entries), (all) => Effect.forEach([...all.values()], (e) => Ref.get(e.status)))
  const isQueue = (name: string) => Effect.map(live.queue(name), (q) => q !== undefined)
  const workerStates = yield* trackWorkerStates(nats.nc, isQueue)
  const levels = yield* Ref.make<StreamLevels>(new Map())
  const decisions = yield* Ref.make<ReadonlyArray<ScaleEvent>>([])
  /** The scope of what runs while leading (closed on losing the lease), and the dead-letter processor's within it. */
  const active = yield* Ref.make<{ readonly scope: Scope.Closeable; readonly dlq: Scope.Closeable | undefined } | undefined>(undefined)

  /** Starts a queue's loop in a scope of its own; a changed queue keeps its control (override) and status. */
  const startQueue = (parent: Scope.Scope, q: QueueConfig, c: JetscaleConfig, kept?: Pick<QueueEntry, "control" | "status">) => Effect.gen(function*() {
    const control = kept?.control ?? (yield* makeQueueControl)
    const statusRef = kept?.status ?? (yield* Ref.make(initialStatus(q)))
    if (kept) yield* Ref.update(statusRef, (s) => ({ ...s, stream: q.stream, consumer: q.consumer }))
    const queueScope = yield* Scope.fork(parent, "sequential")
    yield* supervised(`queue ${q.name}: reconcile loop`, runQueueLoop(q, {
      nats,
      runtime,
      workerNats: { url: c.nats.url, ...(c.nats.workerCredentials ? { credentials: queueWorkerCredentials(c.nats.workerCredentials, q.name) } : {}) },
      control,
      level: Ref.get(levels).pipe(Effect.map((l) => l.get(q.stream))),
      workerStates,
      report: (s) => Ref.update(statusRef, (old) => ({ ...s, reconcileError: old.reconcileError })),
      reportError: (error) => Ref.update(statusRef, (s) => s.reconcileError === error ? s : { ...s, reconcileError: error }),
      onDecision: (event) => Ref.update(decisions, (all) => [event, ...all].slice(0, recentDecisionsKept)),
      grant: budget.grantFor(q),
      timezone: c.scaler.timezone
    }).pipe(Effect.scoped)).pipe(Scope.provide(queueScope))
    return { config: q, scope: queueScope, control, status: statusRef } satisfies QueueEntry
  })
  const stopQueue = (entry: QueueEntry) =>
    Scope.close(entry.scope, Exit.void).pipe(Effect.andThen(budget.forget(entry.config.name)))

  // The shared budget (`scaler.maxReplicas`, read at each grant so a reload applies it): ./budget-grants.ts.
  const budget = yield* makeBudgetGrants({
    budget: Effect.map(live.get, (c) => c.scaler.maxReplicas),
    others: (queue) => Effect.flatMap(Ref.get(entries), (all) =>
      Effect.forEach([...all.values()].filter((e) => e.config.name !== queue), (e) => Effect.map(Ref.get(e.status), (status) => ({ queue: e.config.name, status }))))
  })

  // The shared ticker: a tick for every queue loop, after one read of every stream's level when the
  // last is `levelsEveryMs` old. Only quiet queues use the levels (their wakes come from the
  // activator; the levels are the safety net). Spaced from the end of a read, so slow reads never
  // pile up; a failed read leaves the levels unknown (every queue then takes its full step).
  const levelsRead = yield* Ref.make(0)
  const refreshLevels = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const levelsEveryMs = Math.max(Duration.toMillis((yield* live.get).scaler.interval), quietLevelsEveryMs)
    if (now - (yield* Ref.get(levelsRead)) < levelsEveryMs) return
    yield* Ref.set(levelsRead, now)
    yield* Ref.set(levels, yield* readStreamLevels(nats.jsm).pipe(
      Effect.catch((e) => Effect.logWarning(`stream levels: ${e.message}`).pipe(Effect.as(new Map<string, number>())))))
  })
  // Quiet queues (see ./queue-loop.ts) are not even woken: a tick goes only to those that would step.
  const tickAll = Effect.flatMap(Ref.get(entries), (all) => Effect.forEach([...all.values()], ({ control: c }) => Effect.gen(function*() {
    if (!(yield* Effect.flatten(Ref.get(c.quiet)))) yield* Queue.offer(c.signal, "tick")
  }), { discard: true }))

  const retire = (parent: Scope.Scope, c: JetscaleConfig, stopTimeouts: ReadonlyMap<string, Duration.Duration>) =>
    retireRemovedQueues(runtime, c.queues, stopTimeouts).pipe(
      Effect.catch((e) => Effect.logError(`workers of removed queues: ${e.message}`)),
      Effect.forkIn(parent)
    )

  // The dead-letter processor handles the running queues; a reload that changes them restarts it
  // (handling an advisory twice is harmless).
  const startDeadLetterProcessor = (c: JetscaleConfig) => Effect.gen(function*() {
    const running = yield* Ref.get(active)
    if (running === undefined) return
    if (running.dlq) yield* Scope.close(running.dlq, Exit.void)
    const dlq = yield* Scope.fork(running.scope, "sequential")
    yield* Ref.set(active, { ...running, dlq })
    yield* supervised("dead-letter processor", runDeadLetterProcessor(nats.js, nats.jsm, c.queues, c.deployment)).pipe(Scope.provide(dlq))
    yield* supervised("delay releaser", runDelayReleaser(nats.js, nats.jsm, c.queues)).pipe(Scope.provide(dlq))
  })

  // One change at a time: a reload, a take-over, a step-down.
  const changing = yield* Semaphore.make(1)

  /** Everything the leader runs, in a scope closed when it stops leading. */
  const activate = (known?: KnownStreams) => changing.withPermits(1)(Effect.gen(function*() {
    const c = yield* live.get
    const activeScope = yield* Scope.fork(scope, "sequential")
    yield* Ref.set(active, { scope: activeScope, dlq: undefined })
    yield* Effect.gen(function*() {
      yield* provisionQueues(c.queues, c.deployment, known)
      yield* provisionDlq(c)
      const logs = yield* provisionLogs(nats.jsm, c.logs.maxAge, c.logs.maxBytes, c.jetstream.replicas)
      yield* Effect.logInfo(`worker logs: stream JETSCALE_LOGS ${logs}, max age ${formatShortDuration(c.logs.maxAge)}, max ${formatByteSize(c.logs.maxBytes)}`)
      const started = new Map<string, QueueEntry>()
      for (const q of c.queues) started.set(q.name, yield* startQueue(activeScope, q, c))
      yield* Ref.set(entries, started)
      yield* supervised("scaler ticker", Effect.gen(function*() {
        yield* refreshLevels
        yield* tickAll
        yield* Effect.sleep((yield* live.get).scaler.interval)
      }).pipe(Effect.forever))
      yield* retire(activeScope, c, new Map())
      yield* startDeadLetterProcessor(c)
      // Workers report their finished jobs (and those they dead-lettered themselves) once a second; the
      // counts and durations are served on /metrics. Only running queues and known values become labels.
      yield* onEachMessage(nats.nc, "jetscale.metrics.jobs.>", (m) => Effect.gen(function*() {
        const queue = m.subject.slice("jetscale.metrics.jobs.".length)
        if ((yield* entryOf(queue)) === undefined) return
        const reported = parseJobReport(m.string())
        if (typeof reported === "string") return yield* Effect.logDebug(`job report of queue ${queue} ignored: ${reported}`)
        for (const entry of reported) yield* Metrics.recordJobs(queue, entry)
      }))
      // Only the leader answers `jetscale status`.
      yield* onEachMessage(nats.nc, statusSubjectOf(c.deployment), (m) => ownStatus.pipe(Effect.map((queues) => m.respond(JSON.stringify({ queues })))))
      // "scaler up" promises that `jetscale status` gets an answer: the server must know the subscriptions.
      yield* Effect.promise(() => nats.nc.flush().catch(() => {}))
    }).pipe(Scope.provide(activeScope), Effect.onError(() => stopActive))
  }))
  const stopActive = Effect.gen(function*() {
    const running = yield* Ref.getAndSet(active, undefined)
    if (running === undefined) return
    yield* Scope.close(running.scope, Exit.void)
    yield* Ref.set(entries, new Map())
    yield* budget.forgetAll
  })
  const deactivate = changing.withPermits(1)(stopActive)

  // A sole scaler leads from its first step: what it runs is ready (or failed) when the layer is.
  // (with the stream list read at start, which nothing has changed since).
  if ((yield* SubscriptionRef.get(election.state)).role === "leader") yield* activate(startStreams)
  // Later changes of role: a standby that takes over starts everything (again every second while it
  // fails, as long as it leads; /readyz says why meanwhile); a leader that loses its lease stops it
  // all at once. A defect in a change is logged, never the end of this fiber.
  const takeOverProblem = yield* Ref.make<string | null>(null)
  const takeOver = Effect.gen(function*() {
    while ((yield* SubscriptionRef.get(election.state)).role === "leader" && (yield* Ref.get(active)) === undefined) {
      if (yield* election.mayAct) {
        const outcome = yield* activate().pipe(Effect.result)
        if (outcome._tag === "Success") return yield* Ref.set(takeOverProblem, null)
        yield* Ref.set(takeOverProblem, outcome.failure.message)
        yield* Effect.logError(`taking over as leader failed, again in 1s: ${outcome.failure.message}`)
      }
      yield* Effect.sleep("1 second")
    }
  })
  yield* SubscriptionRef.changes(election.state).pipe(
    Stream.map((s) => s.role),
    Stream.changes,
    Stream.runForEach((role) => (role === "leader" ? takeOver : deactivate.pipe(Effect.andThen(Ref.set(takeOverProblem, null)))).pipe(
      Effect.catchCause((cause) => Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : Effect.logError(`change of role to ${role} failed`, cause)))),
    Effect.forkScoped
  )

  // A standby hears the workers' reports too (it needs them fresh when it takes over) but runs no
  // loop that forgets gone workers: it forgets reports a minute old.
  yield* Effect.gen(function*() {
    if ((yield* Ref.get(active)) === undefined) yield* workerStates.forgetBefore((yield* Clock.currentTimeMillis) - 60_000)
  }).pipe(Effect.repeat(Schedule.spaced("30 seconds")), Effect.forkScoped)

  // A standby only takes the config: it runs it when it takes over.
  const apply = (next: JetscaleConfig) => changing.withPermits(1)(Effect.gen(function*() {
    const before = yield* live.get
    const diff = diffConfig(before, next)
    // What a reload applies: the queues, the tick, the DLQ's size and the replicas; every other
    // setting (the deployment, NATS, the runtime, admin, logs) stays as it started until a restart.
    const kept: JetscaleConfig = {
      ...before,
      queues: next.queues,
      scaler: { ...withoutMaxReplicas(before.scaler), interval: next.scaler.interval, ...(next.scaler.maxReplicas === undefined ? {} : { maxReplicas: next.scaler.maxReplicas }) },
      dlq: next.dlq,
      jetstream: next.jetstream
    }
    const changedNames = new Set(diff.changed.map((c) => c.queue))
    const touched = next.queues.filter((q) => diff.added.includes(q.name) || changedNames.has(q.name))
    const running = yield* Ref.get(active)
    if (running === undefined) {
      // A standby checks what it can without changing anything: it must be able to take over with it.
      yield* checkStreams(touched, before.deployment)
      yield* live.set(kept)
      return diff
    }
    // Provisioning first: a queue whose stream cannot be made to match leaves everything running as it was.
    yield* provisionQueues(touched, before.deployment)
    if (diff.added.length + diff.removed.length + diff.changed.length > 0 || diff.applied.some((key) => key === "dlq.maxBytes" || key === "jetstream.replicas")) {
      yield* provisionDlq(kept)
    }
    if (diff.applied.includes("jetstream.replicas")) {
      yield* provisionLogs(nats.jsm, before.logs.maxAge, before.logs.maxBytes, next.jetstream.replicas)
      yield* openLeases(nats, next.jetstream.replicas)
    }
    const current = yield* Ref.get(entries)
    const after = new Map(current)
    for (const name of [...diff.removed, ...changedNames]) {
      const entry = current.get(name)
      if (entry) yield* stopQueue(entry)
      after.delete(name)
    }
    // A queue whose mode changed hands its work to new workers: the old ones drain (they finish their jobs).
    for (const change of diff.changed.filter((c) => c.fields.includes("mode"))) {
      const workers = (yield* runtime.list(change.queue).pipe(Effect.orElseSucceed(() => []))).filter((w) => w.state === "running")
      yield* Effect.logInfo(`queue ${change.queue}: mode changed; draining its ${workers.length} worker(s)`)
      yield* Effect.forEach(workers, (w) => runtime.drain(w).pipe(Effect.catch((e) => Effect.logError(`queue ${change.queue}: ${e.message}`))), { discard: true })
    }
    for (const q of next.queues) {
      if (diff.added.includes(q.name)) after.set(q.name, yield* startQueue(running.scope, q, kept))
      else if (changedNames.has(q.name)) after.set(q.name, yield* startQueue(running.scope, q, kept, current.get(q.name)))
    }
    yield* Ref.set(entries, after)
    yield* live.set(kept)
    if (diff.added.length + diff.removed.length + diff.changed.length > 0) yield* startDeadLetterProcessor(kept)
    if (diff.removed.length > 0) {
      yield* retire(running.scope, next, new Map(diff.removed.flatMap((name) => {
        const q = before.queues.find((x) => x.name === name)
        return q ? [[name, q.stopTimeout] as const] : []
      })))
    }
    return diff
  }))

  // A standby shows the leader's view (asked over NATS, like `jetscale status`).
  const status = Effect.gen(function*() {
    if ((yield* Ref.get(active)) !== undefined) return yield* ownStatus
    const reply = yield* Effect.tryPromise(() => nats.nc.request(statusSubjectOf(config.deployment), "", { timeout: 1000 })).pipe(Effect.option)
    if (reply._tag === "None") return []
    return yield* Effect.try(() => reply.value.json<{ queues: ReadonlyArray<QueueStatus> }>().queues).pipe(Effect.orElseSucceed(() => []))
  })

  const { setOverride, clearOverride } = makeOverrideActions({ entryOf, queues: live.queues, election })

  const ready = Effect.all({
    nats: Effect.promise(() => nats.nc.isClosed() ? Promise.resolve(false) : nats.nc.flush().then(() => true, () => false)).pipe(
      Effect.timeoutOption("2 seconds"), Effect.map((o) => o._tag === "Some" && o.value)),
    runtime: driver.ping.pipe(Effect.timeoutOption("2 seconds"), Effect.map((o) => o._tag === "Some"), Effect.orElseSucceed(() => false)),
    failingQueues: ownStatus.pipe(Effect.map((qs) => Object.fromEntries(qs.flatMap((q) => q.reconcileError === null ? [] : [[q.name, q.reconcileError]])))),
    takeOver: Ref.get(takeOverProblem)
  }, { concurrency: "unbounded" }).pipe(Effect.map(({ takeOver, ...r }) => takeOver === null ? r : { ...r, takeOverFailing: takeOver }))

  const role = Effect.map(SubscriptionRef.get(election.state), (s) => ({ id: election.id, ...s }))
  const { role: now, leader } = yield* role
  yield* Effect.logInfo(`scaler up${now === "standby" ? ` (standby; leader: ${leader ?? "none yet"})` : ""}: ${config.queues.length} queue(s), runtime ${driver.name}, every ${Duration.format(config.scaler.interval)}`)
  return Scaler.of({ status, setOverride, clearOverride, ready, recentDecisions: Ref.get(decisions), apply, role })
}))

/** The scaler with `config` as its first running config; it also provides the {@link LiveConfig}. */
export const layer = (config: JetscaleConfig) => layerLive.pipe(Layer.provideMerge(liveConfigLayer(config)))
