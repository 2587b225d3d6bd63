// Idempotent provisioning of a queue's stream and consumers (one, or one per priority level): create
// what is missing, update what may change, and refuse (with the way out) what would need the stream
// or a consumer to be recreated.
import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, type ConsumerConfig, type ConsumerInfo, type JetStreamManager, type StreamConfig, type StreamInfo } from "@nats-io/jetstream"
import { nanos } from "@nats-io/transport-node"
import { Duration, Effect } from "effect"
import type { QueueConfig } from "../config/model.ts"
import { attemptWith, lookupWith } from "../effect/attempt.ts"
import { consumersOf, type QueueConsumer } from "./consumers.ts"
import { consumerName, defaultDeployment } from "./names.ts"
import { ProvisionError, replicasHint } from "./provision-error.ts"
import { awaitStreamReplicas } from "./replicas.ts"

export { ProvisionError, replicasHint } from "./provision-error.ts"

export interface Provisioned {
  readonly stream: "created" | "updated" | "unchanged"
  readonly consumer: "created" | "updated" | "unchanged"
}

/** `jetscale queue demo` (the default deployment) or `jetscale queue demo (deployment blue)`: who owns the stream. */
const streamDescription = (q: QueueConfig, deployment: string) =>
  deployment === defaultDeployment ? `jetscale queue ${q.name}` : `jetscale queue ${q.name} (deployment ${deployment})`

/** The deployment a stream's description names, or undefined when jetscale did not write it. */
export const streamOwner = (description: string | undefined): string | undefined => {
  const m = /^jetscale queue \S+(?: \(deployment (\S+)\))?$/.exec(description ?? "")
  return m ? m[1] ?? defaultDeployment : undefined
}

/** Why the queue's existing stream is not this deployment's to use, or undefined when it is. */
export const foreignStream = (q: QueueConfig, deployment: string, have: Pick<StreamInfo, "config">): string | undefined => {
  const owner = streamOwner(have.config.description)
  return owner !== undefined && owner !== deployment
    ? `stream ${q.stream}: belongs to the jetscale deployment ${owner}, not ${deployment} (queue names must differ between deployments on one NATS server)`
    : undefined
}

const wantedStream = (q: QueueConfig, deployment: string): Partial<StreamConfig> & { name: string } => ({
  name: q.stream,
  subjects: [...q.subjects],
  retention: RetentionPolicy.Workqueue,
  storage: StorageType.File,
  // maxBacklog: a full stream refuses new jobs; it never drops one it holds.
  max_msgs: q.maxBacklog ?? -1,
  discard: q.maxBacklog === undefined ? DiscardPolicy.Old : DiscardPolicy.New,
  num_replicas: q.replicas,
  description: streamDescription(q, deployment)
})

const wantedConsumer = (q: QueueConfig, c: QueueConsumer): Partial<ConsumerConfig> => ({
  durable_name: c.name,
  ...(c.filter === undefined ? {} : { filter_subject: c.filter }),
  ack_policy: AckPolicy.Explicit,
  deliver_policy: DeliverPolicy.All,
  ack_wait: nanos(Duration.toMillis(q.ackWait)),
  max_deliver: q.maxDeliver,
  max_ack_pending: q.concurrency * q.maxReplicas,
  description: c.level === undefined ? `jetscale workers of queue ${q.name}` : `jetscale workers of queue ${q.name}, level ${c.level}`
})

const fail = (message: string, cause?: unknown) => new ProvisionError({ message, cause })

const call = attemptWith(fail)
const lookup = lookupWith(fail)

/** Stream config differences that the server can't apply in place. */
const streamConflicts = (have: StreamInfo["config"], want: ReturnType<typeof wantedStream>): Array<string> => [
  ...(have.retention !== want.retention ? [`retention is ${have.retention}, jetscale needs ${want.retention}`] : []),
  ...(have.storage !== want.storage ? [`storage is ${have.storage}, jetscale needs ${want.storage}`] : [])
]

/**
 * What provisioning these queues would refuse at the stream level (another deployment's stream, a
 * recreate-only difference), read without changing anything: a standby checks a config with it.
 */
export const streamProblems = (queues: ReadonlyArray<QueueConfig>, deployment: string, known: KnownStreams): ReadonlyArray<string> =>
  queues.flatMap((q) => {
    const have = known.get(q.stream)
    if (have === undefined) return []
    const foreign = foreignStream(q, deployment, have)
    if (foreign !== undefined) return [foreign]
    const conflicts = streamConflicts(have.config, wantedStream(q, deployment))
    return conflicts.length === 0 ? [] : [`stream ${q.stream}: ${conflicts.join("; ")} (this needs the stream to be recreated)`]
  })

const consumerConflicts = (have: ConsumerInfo["config"], c: QueueConsumer): Array<string> => [
  ...(have.deliver_subject ? ["it is a push consumer, jetscale needs a pull consumer"] : []),
  ...(have.ack_policy !== AckPolicy.Explicit ? [`ack policy is ${have.ack_policy}, jetscale needs explicit`] : []),
  ...((have.filter_subject || undefined) !== c.filter
    ? [have.filter_subject ? `it filters on ${have.filter_subject}, jetscale needs ${c.filter ?? "no filter"}` : `it has no filter, jetscale needs ${c.filter}`]
    : [])
]

const sameStream = (have: StreamInfo["config"], want: ReturnType<typeof wantedStream>) =>
  have.description === want.description && JSON.stringify([...have.subjects ?? []].sort()) === JSON.stringify([...want.subjects ?? []].sort()) &&
  have.max_msgs === want.max_msgs && have.discard === want.discard && (have.num_replicas || 1) === want.num_replicas

const sameConsumer = (have: ConsumerInfo["config"], want: Partial<ConsumerConfig>) =>
  have.ack_wait === want.ack_wait && have.max_deliver === want.max_deliver && have.max_ack_pending === want.max_ack_pending

const ensureStream = Effect.fn("jetstream.ensureStream")(function*(jsm: JetStreamManager, q: QueueConfig, deployment: string, known: KnownStreams | undefined) {
  const want = wantedStream(q, deployment)
  const have = known !== undefined ? known.get(q.stream) ?? null : yield* lookup(`stream ${q.stream}`, () => jsm.streams.info(q.stream))
  if (have === null) {
    yield* call(`stream ${q.stream}: create failed${replicasHint(q.replicas, `queues.${q.name}.replicas`)}`, () => jsm.streams.add(want))
    return "created" as const
  }
  const foreign = foreignStream(q, deployment, have)
  if (foreign !== undefined) return yield* fail(foreign)
  const conflicts = streamConflicts(have.config, want)
  if (conflicts.length > 0) {
    return yield* fail(`stream ${q.stream}: ${conflicts.join("; ")} (this needs the stream to be recreated: ` +
      `move its messages elsewhere, then \`nats stream rm ${q.stream}\` and run jetscale again)`)
  }
  if (sameStream(have.config, want)) return "unchanged" as const
  // A change of `replicas` is applied in place: the server adds or removes the stream's peers (and
  // the consumer answers again once it moved with them).
  yield* call(`stream ${q.stream}: update failed${replicasHint(q.replicas, `queues.${q.name}.replicas`)}`, () => jsm.streams.update(q.stream, {
    ...have.config, subjects: want.subjects ?? [], description: want.description!, max_msgs: want.max_msgs!, discard: want.discard!, num_replicas: want.num_replicas!
  }))
  if ((have.config.num_replicas || 1) !== want.num_replicas) yield* awaitStreamReplicas(jsm, q.stream, q.replicas)
  return "updated" as const
})

const ensureConsumer = Effect.fn("jetstream.ensureConsumer")(function*(jsm: JetStreamManager, q: QueueConfig, c: QueueConsumer, newStream: boolean) {
  const want = wantedConsumer(q, c)
  const have = newStream ? null : yield* lookup(`stream ${q.stream}: consumer "${c.name}"`, () => jsm.consumers.info(q.stream, c.name))
  if (have === null) {
    yield* call(`stream ${q.stream}: consumer "${c.name}": create failed`, () => jsm.consumers.add(q.stream, want))
    return "created" as const
  }
  const conflicts = consumerConflicts(have.config, c)
  if (conflicts.length > 0) {
    return yield* fail(`stream ${q.stream}: consumer "${c.name}": ${conflicts.join("; ")} ` +
      `(this needs the consumer to be recreated: \`nats consumer rm ${q.stream} ${c.name}\`, then run jetscale again)`)
  }
  if (sameConsumer(have.config, want)) return "unchanged" as const
  yield* call(`stream ${q.stream}: consumer "${c.name}": update failed`, () =>
    jsm.consumers.update(q.stream, c.name, { ack_wait: want.ack_wait!, max_deliver: want.max_deliver!, max_ack_pending: want.max_ack_pending!, description: want.description! }))
  return "updated" as const
})

/**
 * Consumers of the stream that the queue's config no longer has (priorities added or removed). A work
 * queue's consumers must not overlap, so one left over would refuse the new ones: it is removed
 * when it holds no job, else provisioning stops and says how to finish.
 */
const removeStaleConsumers = Effect.fn("jetstream.removeStaleConsumers")(function*(jsm: JetStreamManager, q: QueueConfig) {
  const wanted = new Set(consumersOf(q).map((c) => c.name))
  const all = yield* lookup(`stream ${q.stream}: list consumers`, async () => {
    const out: Array<ConsumerInfo> = []
    for await (const c of jsm.consumers.list(q.stream)) out.push(c)
    return out
  })
  if (all === null) return
  for (const c of all.filter((c) => !wanted.has(c.name) && isWorkersConsumer(c.name))) {
    if (c.num_pending + c.num_ack_pending > 0) {
      return yield* fail(`stream ${q.stream}: consumer "${c.name}" still has ${c.num_pending + c.num_ack_pending} job(s) but the queue's ` +
        `priorities no longer use it: let its workers finish them with the previous config, then run jetscale again`)
    }
    yield* call(`stream ${q.stream}: consumer "${c.name}": delete failed`, () => jsm.consumers.delete(q.stream, c.name))
  }
})

/** `workers` or `workers-<level>`: the consumers jetscale makes on a queue's stream. */
const isWorkersConsumer = (name: string) => name === consumerName || name.startsWith(`${consumerName}-`)

/** Created, else updated, else unchanged: the summary of several consumers. */
const summary = (results: ReadonlyArray<Provisioned["consumer"]>): Provisioned["consumer"] =>
  results.includes("created") ? "created" : results.includes("updated") ? "updated" : "unchanged"

/** The account's streams by name (see ../jetstream/stream-levels.ts), when the caller read them in one go. */
export type KnownStreams = ReadonlyMap<string, Pick<StreamInfo, "config">>

/**
 * Makes the queue's stream and consumer match the config; a stream of another deployment is
 * refused. With `known`, the stream is not looked up on its own (many queues: one stream list).
 */
export const provisionQueue = (jsm: JetStreamManager, q: QueueConfig, deployment = defaultDeployment, known?: KnownStreams): Effect.Effect<Provisioned, ProvisionError> =>
  Effect.gen(function*() {
    // Before the stream's subjects change: a consumer left over that still holds jobs stops it all.
    if (known === undefined || known.has(q.stream)) yield* removeStaleConsumers(jsm, q)
    const stream = yield* ensureStream(jsm, q, deployment, known)
    const consumers = yield* Effect.forEach(consumersOf(q), (c) => ensureConsumer(jsm, q, c, stream === "created"))
    return { stream, consumer: summary(consumers) }
  })
