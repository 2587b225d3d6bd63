// The NATS connection as an Effect service: connected when the layer is built, drained when released.
import { connect } from "@nats-io/transport-node"
import type { NatsConnection } from "@nats-io/transport-node"
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream"
import { Context, Effect, Layer, Schema } from "effect"

export class NatsError extends Schema.TaggedError<NatsError>()("NatsError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Unknown)
}) {}

export class Nats extends Context.Service<Nats, {
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
}>()("jetscale/Nats") {}

/** Connects to `url`; the error names the URL and the reason in one line. */
export const connectNats = (url: string, name: string) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => connect({ servers: url, name, reconnectTimeWait: 250, maxReconnectAttempts: -1 }),
      catch: (cause) => new NatsError({ message: `cannot connect to NATS at ${url}: ${describe(cause)}`, cause })
    }),
    (nc) => Effect.promise(() => nc.drain().catch(() => nc.close()))
  )

export const layer = (url: string, name = "jetscale") =>
  Layer.effect(Nats, Effect.gen(function*() {
    const nc = yield* connectNats(url, name)
    const jsm = yield* Effect.tryPromise({
      try: () => jetstreamManager(nc),
      catch: (cause) => new NatsError({ message: `NATS at ${url} has no JetStream: ${describe(cause)}`, cause })
    })
    return Nats.of({ nc, js: jetstream(nc), jsm })
  }))

/** A foreign error as one line of text. */
export const describe = (cause: unknown): string =>
  cause instanceof Error ? cause.message || cause.name : String(cause)
