// Provisions what delayed jobs need: the stream JETSCALE_DELAYED (work-queue retention, file
// storage, `jetscale.delayed.>`, bounded with discard "new": a full stream refuses a delayed job, it
// never drops one it holds) with `jetstream.replicas`, and one durable pull consumer per queue,
// `release-<queue>`, filtered on `jetscale.delayed.<queue>`. Idempotent: what is there and right is
// left alone. Consumers of queues no longer configured are left too (their jobs wait for the queue).
import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, type ConsumerConfig, type JetStreamManager } from "@nats-io/jetstream"
import { nanos } from "@nats-io/transport-node"
import { Effect } from "effect"
import { formatByteSize, parseByteSize } from "../config/duration.ts"
import type { QueueConfig } from "../config/model.ts"
import { attemptWith, lookupWith } from "../effect/attempt.ts"
import { defaultDeployment, delayedStream, delayedSubject, delayedSubjects } from "../jetstream/names.ts"
import { ProvisionError, replicasHint } from "../jetstream/provision-error.ts"
import { ensureStreamReplicas } from "../jetstream/replicas.ts"

/** The durable consumer that releases a queue's delayed jobs (queue names hold no `.`). */
export const releaseConsumer = (queue: string): string => `release-${queue}`

/** `max_bytes` of JETSCALE_DELAYED unless the caller says otherwise. */
export const defaultDelayedMaxBytes = parseByteSize("1g")!
/** A delayed publish repeated within this window (an Idempotency-Key, a retried publish) is stored once. */
export const delayedDuplicateWindowMs = 2 * 60_000
/**
 * A delivered delayed job not settled within this comes back (a releaser that died holding it).
 * Short: a release is idempotent (a second one is dropped as a duplicate), and a crashed releaser's
 * jobs are late by this much at most.
 */
export const releaseAckWaitMs = 10_000

export interface DelayedOptions {
  readonly deployment?: string
  /** `jetstream.replicas` (default 1). */
  readonly replicas?: number
  readonly maxBytes?: number
}

const fail = (message: string, cause?: unknown) => new ProvisionError({ message, cause })
const attempt = attemptWith(fail)
const lookup = lookupWith(fail)
const replicasKey = "jetstream.replicas"

const consumerDescription = (queue: string, deployment: string) =>
  deployment === defaultDeployment ? `jetscale delayed jobs of queue ${queue}` : `jetscale delayed jobs of queue ${queue} (deployment ${deployment})`

/** The deployment a release consumer's description names, or undefined when jetscale did not write it. */
const consumerOwner = (description: string | undefined): string | undefined => {
  const m = /^jetscale delayed jobs of queue \S+(?: \(deployment (\S+)\))?$/.exec(description ?? "")
  return m ? m[1] ?? defaultDeployment : undefined
}

const wantedConsumer = (queue: string, deployment: string): Partial<ConsumerConfig> & { durable_name: string } => ({
  durable_name: releaseConsumer(queue),
  filter_subject: delayedSubject(queue),
  ack_policy: AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.All,
  ack_wait: nanos(releaseAckWaitMs),
  // Every delivery of a job not due yet ends in a NAK with a delay: unlimited, and a job waiting
  // for its time stays in ack-pending, so no cap there either (one would stall due jobs behind it).
  max_deliver: -1,
  max_ack_pending: -1,
  description: consumerDescription(queue, deployment)
})

const ensureStream = (jsm: JetStreamManager, replicas: number, maxBytes: number) => Effect.gen(function*() {
  const have = yield* lookup(`stream ${delayedStream}`, () => jsm.streams.info(delayedStream))
  if (have === null) {
    yield* attempt(`stream ${delayedStream}: create failed${replicasHint(replicas, replicasKey)}`, () => jsm.streams.add({
      name: delayedStream, subjects: [delayedSubjects], retention: RetentionPolicy.Workqueue, storage: StorageType.File,
      max_bytes: maxBytes, discard: DiscardPolicy.New, num_replicas: replicas,
      duplicate_window: nanos(delayedDuplicateWindowMs), description: "jetscale delayed jobs, released into their queues when due"
    }))
    return "created" as const
  }
  if (have.config.retention !== RetentionPolicy.Workqueue) {
    return yield* fail(`stream ${delayedStream}: retention is ${have.config.retention}, jetscale needs workqueue ` +
      `(this needs the stream to be recreated: \`nats stream rm ${delayedStream}\` once it holds no delayed job, then run jetscale again)`)
  }
  const replicated = yield* ensureStreamReplicas(jsm, delayedStream, replicas, replicasKey)
  const subjectsOk = JSON.stringify(have.config.subjects ?? []) === JSON.stringify([delayedSubjects])
  if (subjectsOk && have.config.max_bytes === maxBytes && have.config.discard === DiscardPolicy.New) return replicated
  if (have.state.bytes > maxBytes) {
    return yield* fail(`stream ${delayedStream}: holds ${have.state.bytes} bytes of delayed jobs, more than the ${formatByteSize(maxBytes)} asked; lowering the limit would delete some`)
  }
  yield* attempt(`stream ${delayedStream}: update failed`, () => jsm.streams.update(delayedStream, {
    ...have.config, subjects: [delayedSubjects], max_bytes: maxBytes, discard: DiscardPolicy.New, num_replicas: replicas
  }))
  return "updated" as const
})

const ensureConsumer = (jsm: JetStreamManager, queue: string, deployment: string) => Effect.gen(function*() {
  const want = wantedConsumer(queue, deployment)
  const name = want.durable_name
  const have = yield* lookup(`stream ${delayedStream}: consumer "${name}"`, () => jsm.consumers.info(delayedStream, name))
  if (have === null) {
    yield* attempt(`stream ${delayedStream}: consumer "${name}": create failed`, () => jsm.consumers.add(delayedStream, want))
    return "created" as const
  }
  const owner = consumerOwner(have.config.description)
  if (owner !== undefined && owner !== deployment) {
    return yield* fail(`stream ${delayedStream}: consumer "${name}" belongs to the jetscale deployment ${owner}, not ${deployment} (queue names must differ between deployments on one NATS server)`)
  }
  if (have.config.filter_subject !== want.filter_subject || have.config.deliver_subject) {
    return yield* fail(`stream ${delayedStream}: consumer "${name}" is not a pull consumer on ${want.filter_subject} ` +
      `(this needs the consumer to be recreated: \`nats consumer rm ${delayedStream} ${name}\`, then run jetscale again)`)
  }
  const same = have.config.ack_wait === want.ack_wait && have.config.max_deliver === want.max_deliver &&
    have.config.max_ack_pending === want.max_ack_pending && have.config.description === want.description
  if (same) return "unchanged" as const
  yield* attempt(`stream ${delayedStream}: consumer "${name}": update failed`, () => jsm.consumers.update(delayedStream, name, {
    ack_wait: want.ack_wait!, max_deliver: want.max_deliver!, max_ack_pending: want.max_ack_pending!, description: want.description!
  }))
  return "updated" as const
})

/** Makes JETSCALE_DELAYED and the queues' release consumers match; says what it did to the stream. */
export const provisionDelayed = (jsm: JetStreamManager, queues: ReadonlyArray<Pick<QueueConfig, "name">>, options: DelayedOptions = {}) =>
  Effect.gen(function*() {
    const deployment = options.deployment ?? defaultDeployment
    const stream = yield* ensureStream(jsm, options.replicas ?? 1, options.maxBytes ?? defaultDelayedMaxBytes)
    yield* Effect.forEach(queues, (q) => ensureConsumer(jsm, q.name, deployment), { concurrency: 16, discard: true })
    return stream
  })
