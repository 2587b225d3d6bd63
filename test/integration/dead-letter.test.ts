// Retries and dead-lettering against a real nats-server: the worker SDK, the MAX_DELIVERIES
// advisories captured in JETSCALE_ADVISORIES, the dead-letter processor and its sweep, also across
// a nats-server restart and a processor killed while it held an advisory.
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { connect, headers, type NatsConnection } from "@nats-io/transport-node"
import { Duration, Effect, Fiber, Schema } from "effect"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import type { QueueConfig } from "../../src/config/model.ts"
import { runDeadLetterProcessor } from "../../src/dlq/processor.ts"
import { provisionDeadLettering } from "../../src/dlq/provision.ts"
import { listDeadLetters } from "../../src/dlq/read.ts"
import { advisoriesConsumer, advisoriesStream, dlqStream, dlqSubject, maxDeliveriesSubject } from "../../src/jetstream/names.ts"
import { provisionQueue } from "../../src/jetstream/provision.ts"
import { NonRetryableError, startWorker, type JobContext, type RunningWorker } from "../../src/worker/index.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { startRestartableNatsServer, type RestartableNatsServer } from "../support/nats-server.ts"
import { testQueue } from "../support/queue.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})

const setup = async (over: Partial<QueueConfig> = {}, processor = true) => {
  const q = testQueue("dlq", over)
  await Effect.runPromise(provisionQueue(nats.jsm, q))
  await Effect.runPromise(provisionDeadLettering(nats.jsm, [q]))
  if (processor) startProcessor(q)
  return q
}
const startProcessor = (q: QueueConfig) => {
  const fiber = Effect.runFork(runDeadLetterProcessor(jetstream(nats.nc), nats.jsm, [q]))
  cleanup.push(() => Effect.runPromise(Fiber.interrupt(fiber)))
}
const worker = async <A>(q: QueueConfig, handler: (p: A, ctx: JobContext) => unknown, schema?: Schema.Codec<A, unknown>) => {
  const w: RunningWorker = await startWorker<A>({
    ...(schema ? { schema } : {}), handler, concurrency: 2, log: () => {},
    settings: { natsUrl: nats.server.url, queue: q.name, instance: `t-${q.name}`, stopTimeoutMs: 5000 }
  })
  cleanup.push(() => w.stop())
  return w
}
const publish = (q: QueueConfig, body: string) => jetstream(nats.nc).publish(q.subjects[0]!, body)
const dead = (q: QueueConfig) => listDeadLetters(nats.jsm, q.name)
const streamEmpty = async (q: QueueConfig) => (await nats.jsm.streams.info(q.stream)).state.messages === 0

describe("dead-lettering", () => {
  it("fail always with maxDeliver 3: three attempts spaced by the backoff, then one DLQ entry with the error", async () => {
    const q = await setup({ maxDeliver: 3, backoff: { _tag: "list", delays: [Duration.millis(300), Duration.millis(600)] } })
    const attempts: Array<number> = []
    await worker(q, () => {
      attempts.push(performance.now())
      throw new Error("boom: always fails")
    })
    await publish(q, `{"id":"x"}`)
    const [entry] = await waitFor("a DLQ entry", async () => (await dead(q)).length === 1 && dead(q), 15_000)
    expect(attempts).toHaveLength(3)
    expect(attempts[1]! - attempts[0]!).toBeGreaterThanOrEqual(300 - 5)
    expect(attempts[2]! - attempts[1]!).toBeGreaterThanOrEqual(600 - 5)
    expect(entry).toMatchObject({ queue: q.name, subject: q.subjects[0], streamSeq: 1, deliveries: 3, reason: "max_deliveries", error: "Error: boom: always fails" })
    expect(entry!.headers["Jetscale-Failed-At"]).toMatch(/^\d{4}-\d\d-\d\dT/)
    expect(new TextDecoder().decode(entry!.data)).toBe(`{"id":"x"}`)
    await waitFor("the work stream to be empty", () => streamEmpty(q))
    await new Promise((r) => setTimeout(r, 500))
    expect(attempts).toHaveLength(3)
    expect(await dead(q)).toHaveLength(1)
  })

  it("fail once: the error is recorded in jetscale_errors, the job succeeds on the second attempt, nothing in the DLQ", async () => {
    const q = await setup({ backoff: { _tag: "list", delays: [Duration.millis(1500)] } })
    const kv = await new Kvm(nats.nc).open("jetscale_errors")
    const w = await worker(q, (_p, ctx) => { if (ctx.deliveries === 1) throw new TypeError("first attempt fails") })
    await publish(q, `{}`)
    const record = await waitFor("the error record", async () => (await kv.get(`${q.stream}.1`))?.json<Record<string, unknown>>())
    expect(record).toMatchObject({ message: "first attempt fails", name: "TypeError", attempt: 1, instance: `t-${q.name}` })
    expect(Date.parse(String(record["at"]))).toBeGreaterThan(Date.now() - 60_000)
    await waitFor("the job done", () => streamEmpty(q))
    await waitFor("the record cleared", async () => (await kv.get(`${q.stream}.1`))?.operation !== "PUT")
    expect(w.stats()).toMatchObject({ acked: 1, naked: 1, deadLettered: 0 })
    expect(await dead(q)).toEqual([])
  })

  it("invalid JSON and a schema mismatch: dead-lettered after one attempt as invalid_payload, naming the field", async () => {
    const q = await setup()
    let calls = 0
    await worker(q, () => void calls++, Schema.Struct({ sleepMs: Schema.Number }))
    await publish(q, `{not json`)
    await publish(q, `{"sleepMs":"soon"}`)
    const entries = await waitFor("two DLQ entries", async () => (await dead(q)).length === 2 && dead(q), 10_000)
    expect(calls).toBe(0)
    expect(entries.map((e) => [e.reason, e.deliveries])).toEqual([["invalid_payload", 1], ["invalid_payload", 1]])
    expect(entries[0]!.error).toContain("payload is not JSON")
    expect(entries[1]!.error).toContain("sleepMs:")
    await waitFor("the work stream to be empty", () => streamEmpty(q))
  })

  it("a NonRetryableError: one attempt, reason rejected", async () => {
    const q = await setup()
    let calls = 0
    await worker(q, () => { calls++; throw new NonRetryableError("not for us") })
    await publish(q, `{}`)
    const [entry] = await waitFor("a DLQ entry", async () => (await dead(q)).length === 1 && dead(q), 10_000)
    expect(calls).toBe(1)
    expect(entry).toMatchObject({ reason: "rejected", deliveries: 1, error: "NonRetryableError: not for us" })
    await waitFor("the work stream to be empty", () => streamEmpty(q))
  })

  it("no ack and no recorded error (a lost worker): dead-lettered with the worker-lost text", async () => {
    const q = await setup({ maxDeliver: 2, ackWait: Duration.seconds(1) })
    await publish(q, `{"id":"lost"}`)
    // Pull and never ack, like a worker that dies mid-job; the server gives up at maxDeliver when the
    // next pull comes (a live queue always has one: the scaler keeps a worker up while ackPending > 0).
    const consumer = await jetstream(nats.nc).consumers.get(q.stream, q.consumer)
    let deliveries = 0
    const [entry] = await waitFor("a DLQ entry", async () => {
      if ((await consumer.next({ expires: 1000 })) !== null) deliveries++
      return (await dead(q)).length === 1 && dead(q)
    }, 15_000)
    expect(deliveries).toBe(2)
    expect(entry).toMatchObject({ reason: "max_deliveries", deliveries: 2, error: "worker lost: no ack within ackWait" })
    await waitFor("the work stream to be empty", () => streamEmpty(q))
  })

  it("advisories that came while the processor was down are caught up, each message exactly once", async () => {
    const q = await setup({ maxDeliver: 1 }, false)
    const w = await worker(q, () => { throw new Error("nope") })
    for (let i = 0; i < 5; i++) await publish(q, `{"i":${i}}`)
    await waitFor("5 advisories stored", async () => (await nats.jsm.streams.info("JETSCALE_ADVISORIES")).state.messages >= 5, 10_000)
    await w.stop()
    startProcessor(q)
    await waitFor("5 DLQ entries", async () => (await dead(q)).length === 5, 10_000)
    // A second processor pass over the same messages (e.g. a redelivered advisory) adds nothing.
    startProcessor(q)
    await new Promise((r) => setTimeout(r, 1000))
    expect((await dead(q)).map((e) => e.streamSeq).sort()).toEqual([1, 2, 3, 4, 5])
    expect(await streamEmpty(q)).toBe(true)
  })

  it("messages that ran out of deliveries before jetscale ran are swept into the DLQ on start", async () => {
    // No dead-letter provisioning yet: nothing captures the advisory, like a queue from before jetscale.
    const q = testQueue("dlq", { maxDeliver: 1, ackWait: Duration.seconds(1) })
    await Effect.runPromise(provisionQueue(nats.jsm, q))
    await publish(q, `{"id":"old"}`)
    await publish(q, `{"id":"fine"}`)
    const consumer = await jetstream(nats.nc).consumers.get(q.stream, q.consumer)
    const first = await consumer.next({ expires: 2000 })
    const second = await consumer.next({ expires: 2000 })
    second!.ack()
    expect(first?.seq).toBe(1)
    await waitFor("the message to be max-delivered", async () => {
      await consumer.next({ expires: 1000 })
      const info = await nats.jsm.consumers.info(q.stream, q.consumer)
      return info.num_ack_pending === 0 && info.num_pending === 0
    }, 10_000)
    expect((await nats.jsm.streams.info(q.stream)).state.messages).toBe(1)
    await Effect.runPromise(provisionDeadLettering(nats.jsm, [q]))
    startProcessor(q)
    const [entry] = await waitFor("the swept entry", async () => (await dead(q)).length === 1 && dead(q), 10_000)
    expect(entry).toMatchObject({ streamSeq: 1, reason: "max_deliveries", deliveries: 1, error: "worker lost: no ack within ackWait" })
    expect(await streamEmpty(q)).toBe(true)
  })

  it("a max-delivered message whose advisory was lost is dead-lettered by the sweep when its error record shows every attempt used", async () => {
    const q = await setup({ maxDeliver: 2, backoff: { _tag: "list", delays: [Duration.millis(100)] } }, false)
    const kv = await new Kvm(nats.nc).open("jetscale_errors")
    const w = await worker<{ id: string }>(q, (p) => { throw new Error(`broken ${p.id}`) })
    await publish(q, `{"id":"b"}`)
    const subject = maxDeliveriesSubject(q.stream, q.consumer)
    await waitFor("its advisory stored", async () => (await nats.jsm.streams.getMessage(advisoriesStream, { last_by_subj: subject })) !== null, 10_000)
    await w.stop()
    expect((await kv.get(`${q.stream}.1`))?.json<Record<string, unknown>>()).toMatchObject({ attempt: 2, message: "broken b" })
    // Lost, as a crash could lose it: only the error record is left to tell.
    await nats.jsm.streams.purge(advisoriesStream, { filter: subject })
    startProcessor(q)
    const [entry] = await waitFor("the DLQ entry", async () => (await dead(q)).length === 1 && dead(q), 10_000)
    expect(entry).toMatchObject({ streamSeq: 1, reason: "max_deliveries", deliveries: 2, error: "Error: broken b" })
    await waitFor("the work stream to be empty", () => streamEmpty(q))
    expect((await kv.get(`${q.stream}.1`))?.operation).not.toBe("PUT")
  })
})

describe("dead-lettering across restarts", () => {
  let server: RestartableNatsServer
  let nc: NatsConnection
  let jsm: JetStreamManager
  beforeAll(async () => {
    server = await startRestartableNatsServer()
    nc = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 })
    jsm = await jetstreamManager(nc)
  })
  afterAll(async () => {
    await nc?.close()
    await server?.stop()
  })
  const provisioned = async (q: QueueConfig) => {
    await Effect.runPromise(provisionQueue(jsm, q))
    await Effect.runPromise(provisionDeadLettering(jsm, [q]))
    return q
  }
  const processor = (q: QueueConfig) => {
    const fiber = Effect.runFork(runDeadLetterProcessor(jetstream(nc), jsm, [q]))
    cleanup.push(() => Effect.runPromise(Fiber.interrupt(fiber)))
    return fiber
  }
  const workerOn = async <A>(q: QueueConfig, handler: (p: A, ctx: JobContext) => unknown) => {
    const w = await startWorker<A>({
      handler, concurrency: 2, log: () => {},
      settings: { natsUrl: server.url, queue: q.name, instance: `t-${q.name}`, stopTimeoutMs: 5000 }
    })
    cleanup.push(() => w.stop())
    return w
  }

  it("acked messages that a nats-server crash brought back (delivered, not pending, not max-delivered) are given back, then processed", async () => {
    const q = await provisioned(testQueue("dlq-rs", { maxDeliver: 3 }))
    processor(q)
    const js = jetstream(nc)
    const h = headers()
    h.set("x-origin", "crash-test")
    await js.publish(q.subjects[0]!, `{"id":"a"}`, { headers: h })
    await js.publish(q.subjects[0]!, `{"id":"b"}`)
    await js.publish(q.subjects[0]!, `{"id":"c"}`)
    const consumer = await js.consumers.get(q.stream, q.consumer)
    const got = []
    for await (const m of await consumer.fetch({ max_messages: 2, expires: 2000 })) got.push(m)
    expect(got.map((m) => m.seq)).toEqual([1, 2])
    expect(await got[1]!.ackAck()).toBe(true)
    expect(await got[0]!.ackAck()).toBe(true)
    // The consumer's state (flushed within 100ms) keeps the acks; nats-server 2.9 has not written the deletes yet.
    await new Promise((r) => setTimeout(r, 300))
    await server.kill()
    await server.restart()
    const after = await waitFor("the consumer after the restart", () => jsm.consumers.info(q.stream, q.consumer), 10_000, 100)
    expect([after.delivered.stream_seq, after.ack_floor.stream_seq, after.num_ack_pending]).toEqual([2, 2, 0])
    expect((await jsm.streams.info(q.stream)).state.messages).toBe(3)

    const runs: Array<{ id: string; seq: number; deliveries: number; origin: string | undefined }> = []
    await workerOn<{ id: string }>(q, (p, ctx) => void runs.push({ id: p.id, seq: ctx.streamSeq, deliveries: ctx.deliveries, origin: ctx.headers["x-origin"] }))
    await waitFor("every job run", () => runs.length === 3, 20_000)
    expect(runs.find((r) => r.id === "c")).toMatchObject({ seq: 3, deliveries: 1 })
    expect(runs.find((r) => r.id === "a")).toMatchObject({ deliveries: 1, origin: "crash-test" })
    expect(runs.filter((r) => r.id !== "c").every((r) => r.seq > 3)).toBe(true)
    await waitFor("the work stream to be empty", async () => (await jsm.streams.info(q.stream)).state.messages === 0, 10_000)
    await new Promise((r) => setTimeout(r, 1000))
    expect(runs).toHaveLength(3)
    expect(await listDeadLetters(jsm, q.name)).toEqual([])
  })

  it("a max-delivered message reaches the DLQ within 5s of its advisory: running, after a nats-server restart, and after a processor that held the advisory was killed", async () => {
    const q = await provisioned(testQueue("dlq-rs", { maxDeliver: 2, backoff: { _tag: "list", delays: [Duration.millis(100)] } }))
    await workerOn<{ id: string }>(q, (p) => { throw new Error(`broken ${p.id}`) })
    const advisedAt = new Map<number, number>()
    const sub = nc.subscribe(maxDeliveriesSubject(q.stream, q.consumer), { callback: (_e, m) => void advisedAt.set(m.json<{ stream_seq: number }>().stream_seq, Date.now()) })
    cleanup.push(async () => sub.unsubscribe())
    const publish = (id: string) => waitFor(`job ${id} published`, () => jetstream(nc).publish(q.subjects[0]!, JSON.stringify({ id }), { msgID: `${q.name}-${id}` }).then((a) => a.seq), 15_000, 200)
    /** From its advisory to its DLQ entry, in ms. */
    const latency = async (seq: number) => {
      const entry = await waitFor(`the DLQ entry of ${seq}`, async () => {
        const m = await jsm.streams.getMessage(dlqStream, { last_by_subj: dlqSubject(q.name) })
        return m?.header.get("Jetscale-Stream-Seq") === String(seq) && advisedAt.has(seq) && Date.now()
      }, 20_000, 50)
      return entry - advisedAt.get(seq)!
    }

    const first = processor(q)
    expect(await latency(await publish("running"))).toBeLessThan(5000)

    await server.kill()
    await new Promise((r) => setTimeout(r, 1500))
    await server.restart()
    expect(await latency(await publish("after-restart"))).toBeLessThan(5000)

    // A scaler killed mid-fetch: its pull took the advisory and will never ack it (ack_wait is 30s).
    await Effect.runPromise(Fiber.interrupt(first))
    const held = await (await jetstream(nc).consumers.get(advisoriesStream, advisoriesConsumer)).fetch({ max_messages: 1, expires: 15_000 })
    const heldSeqs: Array<number> = []
    const holding = (async () => { for await (const m of held) heldSeqs.push(m.seq) })()
    const seq = await publish("held")
    await waitFor("the advisory held by the dead pull", () => heldSeqs.length === 1 && advisedAt.has(seq), 10_000)
    processor(q)
    expect(await latency(seq)).toBeLessThan(5000)
    held.stop()
    await holding
    expect((await listDeadLetters(jsm, q.name)).map((e) => [e.reason, e.deliveries, e.error])).toEqual(
      ["running", "after-restart", "held"].map((id) => ["max_deliveries", 2, `Error: broken ${id}`]))
    expect((await jsm.streams.info(q.stream)).state.messages).toBe(0)
  }, 90_000)
})
