// Provisions what dead-lettering needs: the DLQ stream, the advisories stream (capturing the
// MAX_DELIVERIES advisories of every managed stream) with its consumer, and the errors KV bucket.
import { AckPolicy, RetentionPolicy, StorageType, type JetStreamManager } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { nanos } from "@nats-io/transport-node"
import { Effect } from "effect"
import type { QueueConfig } from "../config/model.ts"
import { isNotFound } from "../jetstream/errors.ts"
import { advisoriesConsumer, advisoriesStream, dlqStream, errorsBucket, maxDeliveriesSubject } from "../jetstream/names.ts"
import { ProvisionError } from "../jetstream/provision.ts"
import { describe } from "../nats/connection.ts"

/** How long the last error of a failed attempt is kept. */
export const errorTtlMs = 7 * 24 * 3600 * 1000
/** A DLQ publish repeated within this window (an advisory handled twice) is dropped by JetStream. */
const dlqDuplicateWindowMs = 24 * 3600 * 1000

const attempt = <A>(what: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (cause) => new ProvisionError({ message: `${what}: ${describe(cause)}`, cause }) })

const infoOrNull = <A>(f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (e) => e }).pipe(
    Effect.map((v): A | null => v),
    Effect.catch((e) => isNotFound(e) ? Effect.succeed(null) : Effect.fail(new ProvisionError({ message: describe(e), cause: e })))
  )

export const provisionDeadLettering = (jsm: JetStreamManager, queues: ReadonlyArray<QueueConfig>) => Effect.gen(function*() {
  const dlq = yield* infoOrNull(() => jsm.streams.info(dlqStream))
  if (dlq === null) {
    yield* attempt(`stream ${dlqStream}: create failed`, () => jsm.streams.add({
      name: dlqStream, subjects: ["jetscale.dlq.>"], retention: RetentionPolicy.Limits, storage: StorageType.File,
      duplicate_window: nanos(dlqDuplicateWindowMs), description: "jetscale dead letters"
    }))
  }

  const wanted = queues.map((q) => maxDeliveriesSubject(q.stream, q.consumer))
  const adv = yield* infoOrNull(() => jsm.streams.info(advisoriesStream))
  if (adv === null) {
    if (wanted.length > 0) {
      yield* attempt(`stream ${advisoriesStream}: create failed`, () => jsm.streams.add({
        name: advisoriesStream, subjects: wanted, retention: RetentionPolicy.Workqueue, storage: StorageType.File,
        description: "MAX_DELIVERIES advisories of jetscale queues, for the dead-letter processor"
      }))
    }
  } else {
    // Other jetscale configs may share the server: keep their subjects, add ours.
    const subjects = [...new Set([...adv.config.subjects ?? [], ...wanted])]
    if (subjects.length !== (adv.config.subjects ?? []).length) {
      yield* attempt(`stream ${advisoriesStream}: update failed`, () => jsm.streams.update(advisoriesStream, { ...adv.config, subjects }))
    }
  }
  if (wanted.length > 0 || adv !== null) {
    const consumer = yield* infoOrNull(() => jsm.consumers.info(advisoriesStream, advisoriesConsumer))
    if (consumer === null) {
      yield* attempt(`stream ${advisoriesStream}: consumer "${advisoriesConsumer}": create failed`, () => jsm.consumers.add(advisoriesStream, {
        durable_name: advisoriesConsumer, ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000), max_ack_pending: 100,
        description: "jetscale dead-letter processor"
      }))
    }
  }

  yield* attempt(`KV bucket ${errorsBucket}`, () => new Kvm(jsm.jetstream()).create(errorsBucket, { ttl: errorTtlMs, history: 1, description: "last error of each failed jetscale job attempt" }))
})
