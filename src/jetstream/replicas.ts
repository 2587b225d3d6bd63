// A stream's replication on a NATS cluster: brought to what the config asks in place (the server
// adds or removes the stream's peers; its messages stay). One helper for jetscale's own streams and
// KV buckets; the queues' streams get theirs in ./provision.ts.
import type { JetStreamManager } from "@nats-io/jetstream"
import { Effect } from "effect"
import { attemptWith } from "../effect/attempt.ts"
import { ProvisionError, replicasHint } from "./provision.ts"

const attempt = attemptWith((message, cause) => new ProvisionError({ message, cause }))

/** Sets the stream's `num_replicas` when it differs; "unchanged" otherwise. */
export const ensureStreamReplicas = (jsm: JetStreamManager, stream: string, replicas: number, key: string) => Effect.gen(function*() {
  const info = yield* attempt(`stream ${stream}`, () => jsm.streams.info(stream))
  if ((info.config.num_replicas || 1) === replicas) return "unchanged" as const
  yield* attempt(`stream ${stream}: change to ${replicas} replica(s) failed${replicasHint(replicas, key)}`, () =>
    jsm.streams.update(stream, { ...info.config, num_replicas: replicas }))
  return "updated" as const
})
