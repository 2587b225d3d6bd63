// Stream and consumer provisioning against a real nats-server: idempotent, updates in place, and
// refuses (with the way out) what would need a recreate. The backlog reader's errors too.
import { AckPolicy, DiscardPolicy, jetstream, RetentionPolicy, StorageType } from "@nats-io/jetstream"
import { Duration, Effect } from "effect"
import { describe, expect, it } from "vitest"
import { readBacklog } from "../../src/jetstream/backlog.ts"
import { provisionQueue } from "../../src/jetstream/provision.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { testQueue } from "../support/queue.ts"

const nats = useNatsServer()
const provision = (q: Parameters<typeof provisionQueue>[1]) => Effect.runPromise(provisionQueue(nats.jsm, q))
/** The message of the error `e` fails with (the test fails if `e` succeeds). */
const failure = async (e: Effect.Effect<unknown, { message: string }>) => (await Effect.runPromise(Effect.flip(e))).message

describe("provisioning", () => {
  it("creates a work-queue stream and a pull consumer with the queue's settings, then leaves them alone", async () => {
    const q = testQueue("prov", { subjects: ["jobs.prov.a", "jobs.prov.b"], concurrency: 3, maxReplicas: 4, maxDeliver: 7, ackWait: Duration.seconds(45) })
    expect(await provision(q)).toEqual({ stream: "created", consumer: "created" })
    const stream = await nats.jsm.streams.info(q.stream)
    expect(stream.config).toMatchObject({ retention: RetentionPolicy.Workqueue, storage: StorageType.File, subjects: ["jobs.prov.a", "jobs.prov.b"] })
    const consumer = await nats.jsm.consumers.info(q.stream, "workers")
    expect(consumer.config).toMatchObject({ durable_name: "workers", ack_policy: AckPolicy.Explicit, ack_wait: 45e9, max_deliver: 7, max_ack_pending: 12 })
    expect(consumer.config.deliver_subject).toBeUndefined()
    expect(await provision(q)).toEqual({ stream: "unchanged", consumer: "unchanged" })
  })

  it("updates subjects and consumer limits in place", async () => {
    const q = testQueue("prov")
    await provision(q)
    const changed = { ...q, subjects: [...q.subjects, `more.${q.name}`], maxDeliver: 9, maxReplicas: 6, ackWait: Duration.seconds(10) }
    expect(await provision(changed)).toEqual({ stream: "updated", consumer: "updated" })
    expect((await nats.jsm.streams.info(q.stream)).config.subjects).toEqual(changed.subjects)
    expect((await nats.jsm.consumers.info(q.stream, "workers")).config).toMatchObject({ max_deliver: 9, max_ack_pending: 24, ack_wait: 10e9 })
  })

  it("maxBacklog: set, changed and lifted in place; a full stream refuses new jobs and keeps what it holds", async () => {
    const q = testQueue("prov-backlog")
    await provision(q)
    expect((await nats.jsm.streams.info(q.stream)).config).toMatchObject({ max_msgs: -1, discard: DiscardPolicy.Old })
    const js = jetstream(nats.nc)
    await js.publish(q.subjects[0]!, "{}")
    expect(await provision({ ...q, maxBacklog: 2 })).toMatchObject({ stream: "updated" })
    expect((await nats.jsm.streams.info(q.stream)).config).toMatchObject({ max_msgs: 2, discard: DiscardPolicy.New })
    await js.publish(q.subjects[0]!, "{}")
    await expect(js.publish(q.subjects[0]!, "{}")).rejects.toThrow(/maximum messages exceeded/)
    expect((await nats.jsm.streams.info(q.stream)).state.messages).toBe(2)
    expect(await provision({ ...q, maxBacklog: 3 })).toMatchObject({ stream: "updated" })
    await js.publish(q.subjects[0]!, "{}")
    expect(await provision(q)).toMatchObject({ stream: "updated" })
    expect((await nats.jsm.streams.info(q.stream)).config).toMatchObject({ max_msgs: -1, discard: DiscardPolicy.Old })
    expect((await nats.jsm.streams.info(q.stream)).state.messages).toBe(3)
  })

  it("refuses a stream that would have to be recreated, and says how", async () => {
    const q = testQueue("prov")
    await nats.jsm.streams.add({ name: q.stream, subjects: [...q.subjects], retention: RetentionPolicy.Limits, storage: StorageType.File })
    const text = await failure(provisionQueue(nats.jsm, q))
    expect(text).toContain(`stream ${q.stream}: retention is limits, jetscale needs workqueue`)
    expect(text).toContain(`nats stream rm ${q.stream}`)
  })

  it("replicas above 1 on a single server: refused, naming the key and what it needs", async () => {
    const q = testQueue("prov", { replicas: 3 })
    const text = await failure(provisionQueue(nats.jsm, q))
    expect(text).toContain(`stream ${q.stream}: create failed (queues.${q.name}.replicas is 3: that needs a JetStream cluster of at least 3 servers): `)
    expect(text).toMatch(/replicas > 1 not supported in non-clustered mode/)
  })

  it("refuses a push consumer named workers", async () => {
    const q = testQueue("prov")
    await nats.jsm.streams.add({ name: q.stream, subjects: [...q.subjects], retention: RetentionPolicy.Workqueue, storage: StorageType.File })
    await nats.jsm.consumers.add(q.stream, { durable_name: "workers", ack_policy: AckPolicy.Explicit, deliver_subject: `push.${q.name}` })
    const text = await failure(provisionQueue(nats.jsm, q))
    expect(text).toContain(`consumer "workers": it is a push consumer, jetscale needs a pull consumer`)
  })

  it("a missing consumer is an error that says how to fix it, never a backlog of 0", async () => {
    const q = testQueue("prov")
    const text = await failure(readBacklog(nats.jsm, q))
    expect(text).toContain(`stream ${q.stream}: consumer "workers" missing (run jetscale up to provision)`)
  })
})
