// The scaler service: provisions every queue, runs one reconcile fiber per queue (a slow queue does
// not hold up the others), and answers status requests on `jetscale.api.status`.
import { Cause, Context, Duration, Effect, Layer, Ref } from "effect"
import type { JetscaleConfig } from "../config/model.ts"
import { provisionDeadLettering } from "../dlq/provision.ts"
import { runDeadLetterProcessor } from "../dlq/processor.ts"
import { provisionQueue } from "../jetstream/provision.ts"
import { Nats } from "../nats/connection.ts"
import { Runtime } from "../runtime/driver.ts"
import { runQueueLoop, type QueueStatus } from "./queue-loop.ts"

/** Request-reply subject the CLI's `status` asks for the scaler's view (desired replicas, last decision). */
export const statusSubject = "jetscale.api.status"

export class Scaler extends Context.Service<Scaler, {
  readonly status: Effect.Effect<ReadonlyArray<QueueStatus>>
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
    const result = yield* provisionQueue(nats.jsm, q)
    yield* Effect.logInfo(`queue ${q.name}: stream ${q.stream} ${result.stream}, consumer ${q.consumer} ${result.consumer}`)
  }
  yield* provisionDeadLettering(nats.jsm, config.queues)
  const statuses = yield* Ref.make(new Map<string, QueueStatus>(config.queues.map((q) => [q.name, { name: q.name, desired: 0, running: 0, lastDecision: null }])))
  const status = Ref.get(statuses).pipe(Effect.map((m) => [...m.values()]))

  for (const q of config.queues) {
    yield* supervised(`queue ${q.name}: reconcile loop`, runQueueLoop(q, {
      nats,
      runtime,
      workerNatsUrl: config.nats.url,
      interval: config.scaler.interval,
      report: (s) => Ref.update(statuses, (m) => new Map(m).set(s.name, s))
    }).pipe(Effect.scoped))
  }
  yield* supervised("dead-letter processor", runDeadLetterProcessor(nats.js, nats.jsm, config.queues))

  const sub = nats.nc.subscribe(statusSubject, {
    callback: (_err, msg) => {
      void Effect.runPromise(status).then((queues) => msg.respond(JSON.stringify({ queues })))
    }
  })
  yield* Effect.addFinalizer(() => Effect.sync(() => sub.unsubscribe()))
  yield* Effect.logInfo(`scaler up: ${config.queues.length} queue(s), runtime ${runtime.name}, every ${Duration.format(config.scaler.interval)}`)
  return Scaler.of({ status })
}))
