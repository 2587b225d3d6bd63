// Provisions what dead-lettering needs: the DLQ stream, the advisories stream (capturing the
// MAX_DELIVERIES advisories of every managed stream) with its consumer, and the errors KV bucket.
// The DLQ is bounded by `dlq.maxBytes` with discard "new": a full DLQ refuses a dead letter (its job
// stays in its work queue and is tried again) instead of deleting the oldest ones.
import { AckPolicy, DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamInfo } from "@nats-io/jetstream"
import { nanos } from "@nats-io/transport-node"
import { Effect } from "effect"
import { formatByteSize, parseByteSize } from "../config/duration.ts"
import type { QueueConfig } from "../config/model.ts"
import { DEFAULTS } from "../config/schema.ts"
import { consumersOf } from "../jetstream/consumers.ts"
import { advisoriesConsumer, advisoriesStreamOf, defaultDeployment, dlqStream, errorsBucket, maxDeliveriesSubject } from "../jetstream/names.ts"
import { ProvisionError, replicasHint } from "../jetstream/provision.ts"
import { ensureKvBucket, ensureStreamReplicas } from "../jetstream/replicas.ts"
import { attemptWith, lookupWith } from "../effect/attempt.ts"

/** How long the last error of a failed attempt is kept. */
export const errorTtlMs = 7 * 24 * 3600 * 1000
/** A DLQ publish repeated within this window (an advisory handled twice) is dropped by JetStream. */
const dlqDuplicateWindowMs = 24 * 3600 * 1000

/** `dlq.maxBytes` when the caller passes none. */
export const defaultDlqMaxBytes = parseByteSize(DEFAULTS.dlqMaxBytes)!

export interface DeadLetteringOptions {
  /** `max_bytes` of JETSCALE_DLQ. */
  readonly maxBytes: number
  /** Whose advisories: the stream is JETSCALE_ADVISORIES for the default deployment, else JETSCALE_ADVISORIES_<DEPLOYMENT>. */
  readonly deployment?: string
  /** `jetstream.replicas`: of the DLQ, the advisories stream and the errors bucket (default 1). */
  readonly replicas?: number
}

const replicasKey = "jetstream.replicas"


const provisionError = (message: string, cause: unknown) => new ProvisionError({ message, cause })
const attempt = attemptWith(provisionError)
const lookup = lookupWith(provisionError)

/**
 * Creates JETSCALE_DLQ, or brings its byte limit and discard policy to what is asked. A limit below
 * what the DLQ holds now is refused: the server would delete the oldest dead letters to fit.
 */
const provisionDlq = (jsm: JetStreamManager, maxBytes: number, replicas: number) => Effect.gen(function*() {
  const dlq = yield* lookup(`stream ${dlqStream}`, () => jsm.streams.info(dlqStream))
  if (dlq === null) {
    yield* attempt(`stream ${dlqStream}: create failed${replicasHint(replicas, replicasKey)}`, () => jsm.streams.add({
      name: dlqStream, subjects: ["jetscale.dlq.>"], retention: RetentionPolicy.Limits, storage: StorageType.File,
      max_bytes: maxBytes, discard: DiscardPolicy.New, num_replicas: replicas,
      duplicate_window: nanos(dlqDuplicateWindowMs), description: "jetscale dead letters"
    }))
    return
  }
  yield* ensureStreamReplicas(jsm, dlqStream, replicas, replicasKey)
  if (dlq.config.max_bytes === maxBytes && dlq.config.discard === DiscardPolicy.New) return
  yield* refuseShrinkBelowContent(dlq, maxBytes)
  yield* attempt(`stream ${dlqStream}: update to max_bytes ${formatByteSize(maxBytes)}, discard new failed`, () =>
    jsm.streams.update(dlqStream, { ...dlq.config, max_bytes: maxBytes, discard: DiscardPolicy.New, num_replicas: replicas }))
})

/** `1m (1048576 bytes)`, or `1000 bytes`. */
const bytes = (n: number) => formatByteSize(n) === String(n) ? `${n} bytes` : `${formatByteSize(n)} (${n} bytes)`

const refuseShrinkBelowContent = (dlq: StreamInfo, maxBytes: number) =>
  dlq.state.bytes <= maxBytes ? Effect.void : Effect.fail(new ProvisionError({
    message: `stream ${dlqStream}: holds ${dlq.state.bytes} bytes of dead letters, more than dlq.maxBytes ${bytes(maxBytes)}; ` +
      "lowering the limit would delete the oldest ones: replay or purge some (jetscale dlq list, jetscale dlq purge <queue>) or raise dlq.maxBytes"
  }))

export const provisionDeadLettering = (
  jsm: JetStreamManager,
  queues: ReadonlyArray<QueueConfig>,
  options: DeadLetteringOptions = { maxBytes: defaultDlqMaxBytes }
) => Effect.gen(function*() {
  const replicas = options.replicas ?? 1
  yield* provisionDlq(jsm, options.maxBytes, replicas)

  // Each deployment's advisories have a stream of their own with exactly its queues' subjects, so
  // no dead-letter processor ever sees (and hands back) another deployment's advisories.
  const stream = advisoriesStreamOf(options.deployment ?? defaultDeployment)
  const wanted = queues.flatMap((q) => consumersOf(q).map((c) => maxDeliveriesSubject(q.stream, c.name)))
  const adv = yield* lookup(`stream ${stream}`, () => jsm.streams.info(stream))
  if (adv === null) {
    if (wanted.length > 0) {
      yield* attempt(`stream ${stream}: create failed${replicasHint(replicas, replicasKey)}`, () => jsm.streams.add({
        name: stream, subjects: wanted, retention: RetentionPolicy.Workqueue, storage: StorageType.File, num_replicas: replicas,
        description: "MAX_DELIVERIES advisories of jetscale queues, for the dead-letter processor"
      }))
    }
  } else {
    if (wanted.length > 0 && JSON.stringify([...adv.config.subjects ?? []].sort()) !== JSON.stringify([...wanted].sort())) {
      yield* attempt(`stream ${stream}: update failed`, () => jsm.streams.update(stream, { ...adv.config, subjects: wanted }))
    }
    yield* ensureStreamReplicas(jsm, stream, replicas, replicasKey)
  }
  if (wanted.length > 0 || adv !== null) {
    const consumer = yield* lookup(`stream ${stream}: consumer "${advisoriesConsumer}"`, () => jsm.consumers.info(stream, advisoriesConsumer))
    if (consumer === null) {
      yield* attempt(`stream ${stream}: consumer "${advisoriesConsumer}": create failed`, () => jsm.consumers.add(stream, {
        durable_name: advisoriesConsumer, ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000), max_ack_pending: 100,
        description: "jetscale dead-letter processor"
      }))
    }
  }

  yield* ensureKvBucket(jsm, errorsBucket, replicas, replicasKey, { ttl: errorTtlMs, history: 1, description: "last error of each failed jetscale job attempt" })
})
