// The repository's nats.conf with the accounts `jetscale nats-accounts` generates, on a real
// nats-server 2.9: each role (publisher, each queue's worker, scaler, the system account) can do
// its job and is refused the rest; a queue's worker can touch no other queue. The whole system running under those
// users end to end is in test/e2e/least-privilege.test.ts.
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { QueueConfig } from "../../src/config/model.ts"
import { connectAs, connectAsWorkerOf, stackAccounts, startNatsServer, startStackNatsServer, type StackNatsServer, type StackRole } from "../support/nats-server.ts"
import { testQueue } from "../support/queue.ts"

let server: StackNatsServer
const connections: Array<NatsConnection> = []

const as = async (role: StackRole) => {
  const nc = await connectAs(server.url, role, { ...server.passwords })
  connections.push(nc)
  return nc
}

/** Permission errors the server reports on a connection (for core publishes and subscriptions). */
const permissionErrors = (nc: NatsConnection) => {
  const seen: Array<string> = []
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "error" && s.error.name === "PermissionViolationError") seen.push(s.error.message)
    }
  })()
  return seen
}

const denied = (subject: string) => new RegExp(`Permissions Violation for Publish to "${subject.replaceAll("$", "\\$").replaceAll(".", "\\.")}"`)

let scalerJsm: JetStreamManager
// Two queues on one server: each one's workers may work on it alone.
const mine = testQueue("perm")
const other = testQueue("perm-other")
const { stream, name: queue } = mine
const subject = mine.subjects[0]!

/** Connects as the worker user of `q` (the grants `jetscale nats-accounts` gives it). */
const asWorkerOf = async (q: QueueConfig) => {
  const nc = await connectAsWorkerOf(server.url, q.name, server.passwords)
  connections.push(nc)
  return nc
}

beforeAll(async () => {
  server = await startStackNatsServer([mine, other])
  scalerJsm = await jetstreamManager(await as("scaler"))
  for (const q of [mine, other]) {
    await scalerJsm.streams.add({ name: q.stream, subjects: [...q.subjects], retention: "workqueue" as never })
    await scalerJsm.consumers.add(q.stream, { durable_name: "workers", ack_policy: AckPolicy.Explicit })
  }
  await scalerJsm.streams.add({ name: "JETSCALE_DLQ", subjects: ["jetscale.dlq.>"] })
  await scalerJsm.consumers.add("JETSCALE_DLQ", { durable_name: "workers-peek", ack_policy: AckPolicy.Explicit })
  await new Kvm(scalerJsm.jetstream()).create("jetscale_errors")
})

afterAll(async () => {
  for (const nc of connections) await nc.close().catch(() => undefined)
  await server?.stop()
})

describe("nats.conf: least privilege", () => {
  it("refuses to start while a password variable is unset, naming it", async () => {
    const saved = { ...process.env }
    for (const k of Object.keys(process.env)) if (k.startsWith("JETSCALE_") && k.endsWith("_PASSWORD")) delete process.env[k]
    try {
      await expect(startNatsServer({ repoConfig: true, accounts: stackAccounts([mine], "x"), env: { JETSCALE_SCALER_PASSWORD: "x" } })).rejects.toThrow(/variable reference for 'JETSCALE_\w+_PASSWORD'/)
    } finally {
      process.env = saved
    }
  })

  it("a wrong password is refused", async () => {
    await expect(connect({ servers: server.url, user: `worker-${queue}`, pass: "wrong" })).rejects.toThrow(/Authorization Violation/i)
    // The workers' secret itself is no queue's password.
    await expect(connect({ servers: server.url, user: `worker-${queue}`, pass: server.passwords.JETSCALE_WORKER_PASSWORD })).rejects.toThrow(/Authorization Violation/i)
    await expect(connect({ servers: server.url })).rejects.toThrow(/Authorization Violation/i)
  })

  it("publisher: publishes jobs (and gets the JetStream ack), and nothing else", async () => {
    const nc = await as("publisher")
    const errors = permissionErrors(nc)
    const js = jetstream(nc)
    const ack = await js.publish(subject, JSON.stringify({ sleepMs: 1 }))
    expect(ack.stream).toBe(stream)

    const jsm = await jetstreamManager(nc, { checkAPI: false })
    await expect(jsm.streams.purge(stream)).rejects.toThrow(denied(`$JS.API.STREAM.PURGE.${stream}`))
    await expect(jsm.streams.delete(stream)).rejects.toThrow(denied(`$JS.API.STREAM.DELETE.${stream}`))
    await expect(jsm.streams.info(stream)).rejects.toThrow(denied(`$JS.API.STREAM.INFO.${stream}`))
    await expect(js.consumers.get(stream, "workers")).rejects.toThrow(denied(`$JS.API.CONSUMER.INFO.${stream}.workers`))
    await expect(nc.request(`$JS.API.CONSUMER.MSG.NEXT.${stream}.workers`, JSON.stringify({ batch: 1 }), { timeout: 2000 }))
      .rejects.toThrow(denied(`$JS.API.CONSUMER.MSG.NEXT.${stream}.workers`))
    await expect(js.publish("jetscale.dlq.forged", "x")).rejects.toThrow(denied("jetscale.dlq.forged"))

    // Core subscriptions are refused too: a publisher cannot watch jobs or anyone's replies.
    const jobsSeen: Array<string> = []
    const sub = nc.subscribe(subject, { callback: (err, m) => { if (!err) jobsSeen.push(m.subject) } })
    nc.subscribe(`_INBOX_worker-${queue}.>`)
    await nc.flush()
    await jetstream(await as("publisher")).publish(subject, "{}")
    await expect.poll(() => errors.join("\n")).toContain(`Subscription to "_INBOX_worker-${queue}.>"`)
    expect(errors.join("\n")).toMatch(new RegExp(`Subscription to "${subject}"`))
    expect(sub.isClosed()).toBe(true)
    expect(jobsSeen).toEqual([])
    expect((await scalerJsm.streams.info(stream)).state.messages).toBe(2) // both jobs are still there
  })

  it("worker: pulls, heartbeats and acks from its queue's `workers` consumer; keeps error records; dead-letters; reports", async () => {
    const nc = await asWorkerOf(mine)
    const js = jetstream(nc)
    const consumer = await js.consumers.get(stream, "workers")
    expect((await consumer.info(true)).config.durable_name).toBe("workers")
    for (let i = 0; i < 2; i++) {
      const m = await consumer.next({ expires: 2000 })
      expect(m?.subject).toBe(subject)
      m!.working()
      expect(await m!.ackAck()).toBe(true)
    }
    const kv = await new Kvm(js).open("jetscale_errors")
    await kv.put(`${stream}.1`, JSON.stringify({ message: "boom" }))
    await kv.delete(`${stream}.1`)
    expect((await js.publish(`jetscale.dlq.${queue}`, "job", { msgID: `${stream}:1:1` })).stream).toBe("JETSCALE_DLQ")
    const errors = permissionErrors(nc)
    nc.publish(`jetscale.metrics.jobs.${queue}`, JSON.stringify({ outcome: "succeeded", seconds: 0.1 }))
    nc.publish(`jetscale.workers.${queue}.w1`, JSON.stringify({ instance: "w1", state: "running", inFlight: 0 }))
    nc.publish(`jetscale.logs.${queue}.w1`, "a log line")
    // the scaler's commands (jetscale.control): taken and answered
    nc.subscribe(`jetscale.control.${queue}.w1`, { callback: (_e, m) => void m.respond("ok") })
    await nc.flush()
    expect((await (await as("scaler")).request(`jetscale.control.${queue}.w1`, "drain", { timeout: 2000 })).string()).toBe("ok")
    expect(errors).toEqual([])
  })

  it("worker: cannot pull, ack, read, keep error records, dead-letter or report for another queue", async () => {
    const nc = await asWorkerOf(mine)
    const errors = permissionErrors(nc)
    const js = jetstream(nc)
    await jetstream(await as("publisher")).publish(other.subjects[0]!, "{}")
    await expect(js.consumers.get(other.stream, "workers")).rejects.toThrow(denied(`$JS.API.CONSUMER.INFO.${other.stream}.workers`))
    await expect(nc.request(`$JS.API.CONSUMER.MSG.NEXT.${other.stream}.workers`, JSON.stringify({ batch: 1 }), { timeout: 2000 }))
      .rejects.toThrow(denied(`$JS.API.CONSUMER.MSG.NEXT.${other.stream}.workers`))
    await expect(js.publish(`jetscale.dlq.${other.name}`, "forged")).rejects.toThrow(denied(`jetscale.dlq.${other.name}`))
    const kv = await new Kvm(js).open("jetscale_errors")
    await expect(kv.put(`${other.stream}.1`, "forged")).rejects.toThrow(denied(`$KV.jetscale_errors.${other.stream}.1`))
    for (const s of [`$JS.ACK.${other.stream}.workers.1.1.1.0.0`, `jetscale.metrics.jobs.${other.name}`, `jetscale.workers.${other.name}.w1`, `jetscale.logs.${other.name}.w1`]) nc.publish(s, "x")
    await nc.flush()
    for (const s of [`$JS.ACK.${other.stream}.workers.1.1.1.0.0`, `jetscale.metrics.jobs.${other.name}`, `jetscale.workers.${other.name}.w1`]) {
      await expect.poll(() => errors.join("\n")).toContain(`Permissions Violation for Publish to "${s}"`)
    }
    // nor take another queue's commands
    nc.subscribe(`jetscale.control.${other.name}.w1`)
    await expect.poll(() => errors.join("\n")).toContain(`Permissions Violation for Subscription to "jetscale.control.${other.name}.w1"`)
    // The other queue's job is untouched: still there, never delivered.
    const c = await scalerJsm.consumers.info(other.stream, "workers")
    expect(c.num_pending).toBe(1)
    expect(c.delivered.stream_seq).toBe(0)
  })

  it("worker: cannot delete, purge or reconfigure streams, read other consumers, or publish jobs", async () => {
    const nc = await asWorkerOf(mine)
    const errors = permissionErrors(nc)
    const js = jetstream(nc)
    const jsm = await jetstreamManager(nc, { checkAPI: false })
    await expect(jsm.streams.delete(stream)).rejects.toThrow(denied(`$JS.API.STREAM.DELETE.${stream}`))
    await expect(jsm.streams.purge(stream)).rejects.toThrow(denied(`$JS.API.STREAM.PURGE.${stream}`))
    await expect(jsm.streams.delete("JETSCALE_DLQ")).rejects.toThrow(denied("$JS.API.STREAM.DELETE.JETSCALE_DLQ"))
    await expect(jsm.consumers.add(stream, { durable_name: "mine", ack_policy: AckPolicy.Explicit }))
      .rejects.toThrow(/Permissions Violation for Publish to "\$JS\.API\.CONSUMER\.(DURABLE\.)?CREATE/)
    await expect(jsm.consumers.delete(stream, "workers")).rejects.toThrow(denied(`$JS.API.CONSUMER.DELETE.${stream}.workers`))
    await expect(js.consumers.get("JETSCALE_DLQ", "workers-peek")).rejects.toThrow(denied("$JS.API.CONSUMER.INFO.JETSCALE_DLQ.workers-peek"))
    await expect(jsm.streams.getMessage("JETSCALE_DLQ", { seq: 1 })).rejects.toThrow(/Permissions Violation for Publish to "\$JS\.API\.(STREAM\.MSG|DIRECT)\.GET/)
    await expect(js.publish(subject, "{}")).rejects.toThrow(denied(subject))
    nc.subscribe("_INBOX_scaler.>")
    nc.subscribe("jetscale.>")
    await nc.flush()
    await expect.poll(() => errors.join("\n")).toMatch(/Subscription to "_INBOX_scaler\.>"/)
    await expect.poll(() => errors.join("\n")).toMatch(/Subscription to "jetscale\.>"/)
  })

  it("accounts are isolated: the system account's traffic never reaches a worker, and JetStream is not there", async () => {
    const worker = await asWorkerOf(mine)
    const got: Array<string> = []
    worker.subscribe(`_INBOX_worker-${queue}.>`, { callback: (err, m) => { if (!err) got.push(m.string()) } })
    await worker.flush()
    const sys = await as("sys")
    sys.publish(`_INBOX_worker-${queue}.probe`, "from SYS")
    await sys.flush()
    // The worker's own inbox does receive: the reply to its next request lands there as well.
    await (await jetstream(worker).consumers.get(stream, "workers")).info(true)
    await expect.poll(() => got.length).toBeGreaterThan(0)
    expect(got.join("\n")).toContain(`"durable_name":"workers"`)
    expect(got.join("\n")).not.toContain("from SYS")
    await expect(jetstreamManager(sys)).rejects.toThrow(/JetStream not enabled/)
    // and the SYS account's server requests are out of a worker's reach
    await expect(worker.request("$SYS.REQ.SERVER.PING", "", { timeout: 1000 })).rejects.toThrow(/Permissions Violation|no responders/i)
  })
})
