// The one error of provisioning (queues' streams and consumers, jetscale's own streams and buckets),
// and the hint for a replica count a single server cannot have.
import { Schema } from "effect"

export class ProvisionError extends Schema.TaggedError<ProvisionError>()("ProvisionError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Unknown)
}) {}

/** For errors of a stream with `replicas > 1`: what that needs (a single server refuses it). */
export const replicasHint = (replicas: number, key: string) =>
  replicas > 1 ? ` (${key} is ${replicas}: that needs a JetStream cluster of at least ${replicas} servers)` : ""
