// NATS subscriptions as scoped Streams: subscribed when acquired (so a flush that follows covers it),
// read as a Stream by a fiber of the caller's scope, unsubscribed when that scope closes. No Effect
// program is started from inside a NATS callback.
import type { Msg, NatsConnection } from "@nats-io/transport-node"
import { Cause, Effect, Stream } from "effect"

/** Messages on `subject`, from now until the scope closes. */
export const subscription = (nc: NatsConnection, subject: string) =>
  Effect.acquireRelease(Effect.sync(() => nc.subscribe(subject)), (sub) => Effect.sync(() => sub.unsubscribe())).pipe(
    Effect.map((sub) => Stream.fromAsyncIterable(sub, (cause) => new Error(`subscription ${subject}: ${String(cause)}`)))
  )

/**
 * Subscribes now and handles each message in a fiber of the scope, one at a time. A failure or
 * defect in `handle` is logged and the next message is handled: one bad message never ends it.
 */
export const onEachMessage = <R>(nc: NatsConnection, subject: string, handle: (m: Msg) => Effect.Effect<unknown, unknown, R>) =>
  Effect.gen(function*() {
    const messages = yield* subscription(nc, subject)
    yield* messages.pipe(
      Stream.runForEach((m) => handle(m).pipe(Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : Effect.logWarning(`${subject}: message dropped`, cause)))),
      Effect.catchCause((cause) => Cause.hasInterruptsOnly(cause) ? Effect.void : Effect.logWarning(`${subject}: subscription ended`, cause)),
      Effect.forkScoped
    )
  })
