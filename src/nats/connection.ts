// The NATS connection as an Effect service: connected when the layer is built, drained when released.
import { connect } from "@nats-io/transport-node"
import type { NatsConnection } from "@nats-io/transport-node"
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream"
import { Context, Effect, Layer, Schema } from "effect"
import { describe } from "../effect/attempt.ts"
import { connectOptions, endpointText, type NatsEndpoint } from "./credentials.ts"

export class NatsError extends Schema.TaggedError<NatsError>()("NatsError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Unknown)
}) {}

export class Nats extends Context.Service<Nats, {
  readonly nc: NatsConnection
  readonly js: JetStreamClient
  readonly jsm: JetStreamManager
}>()("jetscale/Nats") {}

/** Connects to the endpoint; the error names the URL, the user and the reason in one line. */
export const connectNats = (endpoint: NatsEndpoint, name: string) =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () => connect({ ...connectOptions(endpoint), name, reconnectTimeWait: 250, maxReconnectAttempts: -1 }),
      catch: (cause) => new NatsError({ message: `cannot connect to NATS at ${endpointText(endpoint)}: ${describe(cause)}`, cause })
    }),
    (nc) => Effect.promise(() => nc.drain().catch(() => nc.close()))
  )

/**
 * The connection as a layer. `checkJetStream: false` skips the account-info request that proves
 * JetStream is on: a publish-only user (nats.conf's `publisher`) may not send it.
 */
export const layer = (endpoint: NatsEndpoint, name = "jetscale", options: { readonly checkJetStream?: boolean } = {}) =>
  Layer.effect(Nats, Effect.gen(function*() {
    const nc = yield* connectNats(endpoint, name)
    const jsm = yield* Effect.tryPromise({
      try: () => jetstreamManager(nc, { checkAPI: options.checkJetStream ?? true }),
      catch: (cause) => new NatsError({ message: `NATS at ${endpointText(endpoint)} has no JetStream: ${describe(cause)}`, cause })
    })
    return Nats.of({ nc, js: jetstream(nc), jsm })
  }))

export { describe }
