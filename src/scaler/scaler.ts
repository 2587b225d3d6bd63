// The scaler service: provisions every queue, runs one reconcile fiber per queue (a slow queue does
// not hold up the others) and the dead-letter processor, answers status requests on
// `jetscale.api.status`, and takes manual overrides (the admin API).
import { Cause, Clock, Context, Duration, Effect, Layer, Queue, Ref, Schema } from "effect"
import type { JetscaleConfig } from "../config/model.ts"
import { provisionDeadLettering } from "../dlq/provision.ts"
import { formatByteSize, formatShortDuration } from "../config/duration.ts"
import { provisionLogs } from "../logs/provision.ts"
import { runDeadLetterProcessor } from "../dlq/processor.ts"
import { provisionQueue } from "../jetstream/provision.ts"
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
  for (const q of config.queues) {
    const result = yield* provisionQueue(nats.jsm, q, config.deployment)
    yield* Effect.logInfo(`queue ${q.name}: stream ${q.stream} ${result.stream}, consumer ${q.consumer} ${result.consumer}`)
  }
  yield* provisionDeadLettering(nats.jsm, config.queues, { maxBytes: config.dlq.maxBytes, deployment: config.deployment })
  const logs = yield* provisionLogs(nats.jsm, config.logs.maxAge, config.logs.maxBytes)
  yield* Effect.logInfo(`worker logs: stream JETSCALE_LOGS ${logs}, max age ${formatShortDuration(config.logs.maxAge)}, max ${formatByteSize(config.logs.maxBytes)}`)
  const statuses = yield* Ref.make<ReadonlyMap<string, QueueStatus>>(new Map(config.queues.map((q) => [q.name, initialStatus(q)])))
  const status = Ref.get(statuses).pipe(Effect.map((m) => [...m.values()]))
  const updateStatus = (queue: string, f: (s: QueueStatus) => QueueStatus) =>
    Ref.update(statuses, (m) => {
      const s = m.get(queue)
      return s === undefined ? m : new Map(m).set(queue, f(s))
    })
  const controls = new Map<string, QueueControl>()
  const workerStates = yield* trackWorkerStates(nats.nc, new Set(config.queues.map((q) => q.name)))

  for (const q of config.queues) {
    const control = yield* makeQueueControl
    controls.set(q.name, control)
    yield* supervised(`queue ${q.name}: reconcile loop`, runQueueLoop(q, {
      nats,
      runtime,
      workerNats: { url: config.nats.url, ...(config.nats.workerCredentials ? { credentials: queueWorkerCredentials(config.nats.workerCredentials, q.name) } : {}) },
      interval: config.scaler.interval,
      control,
      workerStates,
      report: (s) => updateStatus(q.name, (old) => ({ ...s, reconcileError: old.reconcileError })),
      reportError: (error) => updateStatus(q.name, (s) => s.reconcileError === error ? s : { ...s, reconcileError: error })
    }).pipe(Effect.scoped))
  }
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
