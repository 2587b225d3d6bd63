// The scaler service: provisions every queue, runs one reconcile fiber per queue (a slow queue does
// not hold up the others) and the dead-letter processor, answers status requests on
// `jetscale.api.status`, and takes manual overrides (the admin API).
import { Cause, Clock, Context, Duration, Effect, Layer, Queue, Ref, Schedule, Schema } from "effect"
import type { JetscaleConfig } from "../config/model.ts"
import { provisionDeadLettering } from "../dlq/provision.ts"
import { formatByteSize, formatShortDuration } from "../config/duration.ts"
import { provisionLogs } from "../logs/provision.ts"
import { runDeadLetterProcessor } from "../dlq/processor.ts"
import { ProvisionError, provisionQueue } from "../jetstream/provision.ts"
import { readStreamLevels, readStreams, type StreamLevels } from "../jetstream/stream-levels.ts"
import { defaultDeployment, statusSubjectOf } from "../jetstream/names.ts"
import { Nats } from "../nats/connection.ts"
import { onEachMessage } from "../nats/subscription.ts"
import { queueWorkerCredentials } from "../nats/worker-credentials.ts"
import { Runtime } from "../runtime/driver.ts"
import { parseJobReport } from "../telemetry/job-report.ts"
import * as Metrics from "../telemetry/metrics.ts"
import { overrideTtlProblem } from "./override.ts"
import { initialStatus, makeQueueControl, runQueueLoop, type Override, type QueueControl, type QueueStatus } from "./queue-loop.ts"
import { retireRemovedQueues } from "./retire.ts"
import { trackWorkerStates } from "./worker-states.ts"

/** Request-reply subject the CLI's `status` asks for the scaler's view (desired replicas, last decision), of the default deployment. */
export const statusSubject = statusSubjectOf(defaultDeployment)

export class OverrideError extends Schema.TaggedError<OverrideError>()("OverrideError", {
  message: Schema.String,
  reason: Schema.Literals(["unknown-queue", "invalid"])
}) {}

export class Scaler extends Context.Service<Scaler, {
  readonly status: Effect.Effect<ReadonlyArray<QueueStatus>>
  /** Pins a queue's replica count for `ttl`; the policy resumes afterwards. */
  readonly setOverride: (queue: string, replicas: number, ttl: Duration.Duration) => Effect.Effect<Override, OverrideError>
  /** Ends an override early; false when there was none. */
  readonly clearOverride: (queue: string) => Effect.Effect<boolean, OverrideError>
  /** Whether NATS and the runtime answer, and the queues whose reconcile steps fail (name -> error). */
  readonly ready: Effect.Effect<{ readonly nats: boolean; readonly runtime: boolean; readonly failingQueues: Readonly<Record<string, string>> }>
}>()("jetscale/Scaler") {}

const provisionConcurrency = 16
/** How often quiet queues' stream levels are read at most (see ./queue-loop.ts). */
const quietLevelsEveryMs = 5000

/** Runs `loop` for the scaler's lifetime; if it ends, fails or dies, it is logged and started again. */
const supervised = <E, R>(name: string, loop: Effect.Effect<unknown, E, R>) =>
  loop.pipe(
    Effect.catchCause((cause) => Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : Effect.logError(`${name} failed, restarting in 1s`, cause)),
    Effect.andThen(Effect.sleep("1 second")),
    Effect.forever,
    Effect.forkScoped
  )

export const layer = (config: JetscaleConfig) => Layer.effect(Scaler, Effect.gen(function*() {
  const nats = yield* Nats
  const runtime = yield* Runtime
  yield* runtime.ping
  // One stream list instead of a lookup per queue, then a few queues at a time: 1,000 queues
  // provision in seconds without flooding the server.
  const known = yield* readStreams(nats.jsm, (info) => ({ config: info.config })).pipe(
    Effect.mapError((e) => new ProvisionError({ message: e.message, cause: e.cause })))
  yield* Effect.forEach(config.queues, (q) => provisionQueue(nats.jsm, q, config.deployment, known).pipe(
    Effect.tap((result) => Effect.logInfo(`queue ${q.name}: stream ${q.stream} ${result.stream}, consumer ${q.consumer} ${result.consumer}`))
  ), { concurrency: provisionConcurrency, discard: true })
  yield* provisionDeadLettering(nats.jsm, config.queues, { maxBytes: config.dlq.maxBytes, deployment: config.deployment })
  const logs = yield* provisionLogs(nats.jsm, config.logs.maxAge, config.logs.maxBytes)
  yield* Effect.logInfo(`worker logs: stream JETSCALE_LOGS ${logs}, max age ${formatShortDuration(config.logs.maxAge)}, max ${formatByteSize(config.logs.maxBytes)}`)
  // One Ref per queue: a report touches its own queue only (not a copy of every queue's status).
  const statuses = new Map<string, Ref.Ref<QueueStatus>>()
  for (const q of config.queues) statuses.set(q.name, yield* Ref.make(initialStatus(q)))
  const status = Effect.forEach([...statuses.values()], Ref.get)
  const updateStatus = (queue: string, f: (s: QueueStatus) => QueueStatus) => {
    const ref = statuses.get(queue)
    return ref === undefined ? Effect.void : Ref.update(ref, f)
  }
  const controls = new Map<string, QueueControl>()
  const workerStates = yield* trackWorkerStates(nats.nc, new Set(config.queues.map((q) => q.name)))
  const levels = yield* Ref.make<StreamLevels>(new Map())

  for (const q of config.queues) {
    const control = yield* makeQueueControl
    controls.set(q.name, control)
    yield* supervised(`queue ${q.name}: reconcile loop`, runQueueLoop(q, {
      nats,
      runtime,
      workerNats: { url: config.nats.url, ...(config.nats.workerCredentials ? { credentials: queueWorkerCredentials(config.nats.workerCredentials, q.name) } : {}) },
      control,
      level: Ref.get(levels).pipe(Effect.map((l) => l.get(q.stream))),
      workerStates,
      report: (s) => updateStatus(q.name, (old) => ({ ...s, reconcileError: old.reconcileError })),
      reportError: (error) => updateStatus(q.name, (s) => s.reconcileError === error ? s : { ...s, reconcileError: error })
    }).pipe(Effect.scoped))
  }
  // The shared ticker: a tick for every queue loop, after one read of every stream's level when the
  // last is `levelsEveryMs` old. Only quiet queues use the levels (their wakes come from the
  // activator; the levels are the safety net). Spaced from the end of a read, so slow reads never
  // pile up; a failed read leaves the levels unknown (every queue then takes its full step).
  const levelsRead = yield* Ref.make(0)
  const levelsEveryMs = Math.max(Duration.toMillis(config.scaler.interval), quietLevelsEveryMs)
  const refreshLevels = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    if (now - (yield* Ref.get(levelsRead)) < levelsEveryMs) return
    yield* Ref.set(levelsRead, now)
    yield* Ref.set(levels, yield* readStreamLevels(nats.jsm).pipe(
      Effect.catch((e) => Effect.logWarning(`stream levels: ${e.message}`).pipe(Effect.as(new Map<string, number>())))))
  })
  // Quiet queues (see ./queue-loop.ts) are not even woken: a tick goes only to those that would step.
  const tickAll = Effect.forEach([...controls.values()], (c) => Effect.gen(function*() {
    if (!(yield* Effect.flatten(Ref.get(c.quiet)))) yield* Queue.offer(c.signal, "tick")
  }), { discard: true })
  yield* refreshLevels.pipe(
    Effect.andThen(tickAll),
    Effect.repeat(Schedule.spaced(config.scaler.interval)),
    Effect.forkScoped
  )
  yield* retireRemovedQueues(runtime, config.queues).pipe(
    Effect.catch((e) => Effect.logError(`workers of removed queues: ${e.message}`)),
    Effect.forkScoped
  )
  yield* supervised("dead-letter processor", runDeadLetterProcessor(nats.js, nats.jsm, config.queues, config.deployment))

  const controlOf = (queue: string) => {
    const control = controls.get(queue)
    return control
      ? Effect.succeed(control)
      : Effect.fail(new OverrideError({ reason: "unknown-queue", message: `queue "${queue}" is not in the config (queues: ${config.queues.map((q) => q.name).join(", ") || "none"})` }))
  }

  const setOverride = Effect.fn("Scaler.setOverride")(function*(queue: string, replicas: number, ttl: Duration.Duration) {
    const control = yield* controlOf(queue)
    const max = config.queues.find((q) => q.name === queue)!.maxReplicas
    if (!Number.isInteger(replicas) || replicas < 0 || replicas > max) {
      return yield* new OverrideError({ reason: "invalid", message: `replicas: expected an integer from 0 to ${max} (maxReplicas of queue ${queue}), got ${replicas}` })
    }
    const problem = overrideTtlProblem(ttl)
    if (problem !== undefined) return yield* new OverrideError({ reason: "invalid", message: `ttl: ${problem}, got ${formatShortDuration(ttl)}` })
    const untilMs = (yield* Clock.currentTimeMillis) + Duration.toMillis(ttl)
    yield* Ref.set(control.override, { replicas, untilMs })
    yield* Queue.offer(control.signal, "wake")
    yield* Effect.logInfo(`queue ${queue}: manual override to ${replicas} replica(s) for ${Duration.format(ttl)}`)
    return { replicas, until: new Date(untilMs).toISOString() }
  })

  const clearOverride = Effect.fn("Scaler.clearOverride")(function*(queue: string) {
    const control = yield* controlOf(queue)
    const had = (yield* Ref.getAndSet(control.override, null)) !== null
    if (had) {
      yield* Queue.offer(control.signal, "wake")
      yield* Effect.logInfo(`queue ${queue}: manual override cleared; the policy resumes`)
    }
    return had
  })

  const ready = Effect.all({
    nats: Effect.promise(() => nats.nc.isClosed() ? Promise.resolve(false) : nats.nc.flush().then(() => true, () => false)).pipe(
      Effect.timeoutOption("2 seconds"), Effect.map((o) => o._tag === "Some" && o.value)),
    runtime: runtime.ping.pipe(Effect.timeoutOption("2 seconds"), Effect.map((o) => o._tag === "Some"), Effect.orElseSucceed(() => false)),
    failingQueues: status.pipe(Effect.map((qs) => Object.fromEntries(qs.flatMap((q) => q.reconcileError === null ? [] : [[q.name, q.reconcileError]]))))
  }, { concurrency: "unbounded" })

  // Workers report their finished jobs (and those they dead-lettered themselves) once a second; the
  // counts and durations are served on /metrics. Only configured queues and known values become labels.
  const queueNames = new Set(config.queues.map((q) => q.name))
  yield* onEachMessage(nats.nc, "jetscale.metrics.jobs.>", (m) => Effect.gen(function*() {
    const queue = m.subject.slice("jetscale.metrics.jobs.".length)
    if (!queueNames.has(queue)) return
    const entries = parseJobReport(m.string())
    if (typeof entries === "string") return yield* Effect.logDebug(`job report of queue ${queue} ignored: ${entries}`)
    for (const entry of entries) yield* Metrics.recordJobs(queue, entry)
  }))
  yield* onEachMessage(nats.nc, statusSubjectOf(config.deployment), (m) => status.pipe(Effect.map((queues) => m.respond(JSON.stringify({ queues })))))
  // "scaler up" promises that `jetscale status` gets an answer: the server must know the subscriptions.
  yield* Effect.promise(() => nats.nc.flush().catch(() => {}))
  yield* Effect.logInfo(`scaler up: ${config.queues.length} queue(s), runtime ${runtime.name}, every ${Duration.format(config.scaler.interval)}`)
  return Scaler.of({ status, setOverride, clearOverride, ready })
}))
