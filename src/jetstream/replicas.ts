// A stream's replication on a NATS cluster: brought to what the config asks in place (the server
// adds or removes the stream's peers; its messages stay). One helper for jetscale's own streams and
// KV buckets; the queues' streams get theirs in ./provision.ts.
import type { JetStreamManager } from "@nats-io/jetstream"
import { Kvm, type KV, type KvOptions } from "@nats-io/kv"
import { Duration, Effect, Schedule } from "effect"
import { attemptWith, lookupWith } from "../effect/attempt.ts"
import { ProvisionError, replicasHint } from "./provision-error.ts"

const attempt = attemptWith((message, cause) => new ProvisionError({ message, cause }))
const lookup = lookupWith((message, cause) => new ProvisionError({ message, cause }))

/** How long a change of replicas may take to settle (peers added and caught up) before provisioning goes on. */
const settleTimeout = Duration.seconds(20)

/**
 * Waits until the stream has `replicas` peers, all current: its consumers answer again once they
 * moved with it. Past `settleTimeout` it goes on (the next request says what is wrong).
 */
export const awaitStreamReplicas = (jsm: JetStreamManager, stream: string, replicas: number) =>
  Effect.tryPromise(() => jsm.streams.info(stream)).pipe(
    Effect.map((info) => {
      const peers = info.cluster?.replicas ?? []
      return peers.length === replicas - 1 && peers.every((p) => p.current) && info.cluster?.leader !== undefined
    }),
    Effect.orElseSucceed(() => false),
    Effect.repeat({ until: (settled) => settled, schedule: Schedule.spaced("250 millis") }),
    Effect.timeoutOption(settleTimeout),
    Effect.asVoid
  )

/** Sets the stream's `num_replicas` when it differs (and waits for it to settle); "unchanged" otherwise. */
export const ensureStreamReplicas = (jsm: JetStreamManager, stream: string, replicas: number, key: string) => Effect.gen(function*() {
  const info = yield* attempt(`stream ${stream}`, () => jsm.streams.info(stream))
  if ((info.config.num_replicas || 1) === replicas) return "unchanged" as const
  yield* attempt(`stream ${stream}: change to ${replicas} replica(s) failed${replicasHint(replicas, key)}`, () =>
    jsm.streams.update(stream, { ...info.config, num_replicas: replicas }))
  yield* awaitStreamReplicas(jsm, stream, replicas)
  return "updated" as const
})

/**
 * Opens a KV bucket of jetscale's: created with `replicas` (and `options`) when missing, otherwise
 * brought to `replicas` in place (a bucket is the stream KV_<bucket>). `key` names the setting.
 */
export const ensureKvBucket = (jsm: JetStreamManager, bucket: string, replicas: number, key: string, options: Partial<KvOptions>): Effect.Effect<KV, ProvisionError> =>
  Effect.gen(function*() {
    const kvm = new Kvm(jsm.jetstream())
    const have = yield* lookup(`KV bucket ${bucket}`, () => jsm.streams.info(`KV_${bucket}`))
    if (have === null) {
      return yield* attempt(`KV bucket ${bucket}: create failed${replicasHint(replicas, key)}`, () => kvm.create(bucket, { ...options, replicas }))
    }
    yield* ensureStreamReplicas(jsm, `KV_${bucket}`, replicas, key)
    return yield* attempt(`KV bucket ${bucket}`, () => kvm.open(bucket))
  })
