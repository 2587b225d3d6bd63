// Delayed jobs against a real nats-server: JETSCALE_DELAYED and its release consumers provisioned
// idempotently; a delayed job waits outside its work queue (never in its consumer's num_pending) and
// enters it once when due, with its headers; a full queue holds due jobs back; a releaser that died
// between its publish and its ack, or was stopped and started again around the due times, still puts
// every job in its queue exactly once; the per-queue counts; the job route's `delay`/`at`; the
// grants of `jetscale nats-accounts` for all of it.
import { AckPolicy, jetstream, jetstreamManager, type JsMsg } from "@nats-io/jetstream"
import { connect, headers as natsHeaders } from "@nats-io/transport-node"
import { Context, Effect, Exit, Fiber, Layer, Scope } from "effect"
import { afterEach, describe, expect, it } from "vitest"
import * as Admin from "../../src/admin/server.ts"
import * as Submit from "../../src/admin/submit.ts"
import * as LiveConfig from "../../src/config/live.ts"
import type { JetscaleConfig, QueueConfig } from "../../src/config/model.ts"
import { delayedCounts } from "../../src/delay/counts.ts"
import { dueTime } from "../../src/delay/due.ts"
import { delayedUntilHeader, subjectHeader } from "../../src/delay/message.ts"
import { formatInstant, parseNotBefore, releaseStep, releaseSubject } from "../../src/delay/not-before.ts"
import { provisionDelayed, releaseConsumer } from "../../src/delay/provision.ts"
import { releaseMsgId, runDelayReleaser } from "../../src/delay/releaser.ts"
import { delayedStream, delayedSubject, notBeforeHeader } from "../../src/jetstream/names.ts"
import { provisionQueue } from "../../src/jetstream/provision.ts"
import { asDelayed, publishJob } from "../../src/jetstream/publish-job.ts"
import * as Nats from "../../src/nats/connection.ts"
import { Scaler } from "../../src/scaler/scaler.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { connectAs, connectAsWorkerOf, startStackNatsServer } from "../support/nats-server.ts"
import { testQueue, uniqueName } from "../support/queue.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const cleanup: Array<() => Promise<unknown>> = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})

const setup = async (prefix: string, over: Partial<QueueConfig> = {}) => {
  const q = testQueue(prefix, over)
  await Effect.runPromise(provisionQueue(nats.jsm, q))
  await Effect.runPromise(provisionDelayed(nats.jsm, [q]))
  return q
}
/** Runs a releaser for `q`; `stop` waits for it to end (its pull in progress: 2s at most). After the test it is stopped without waiting. */
const startReleaser = (q: QueueConfig) => {
  const fiber = Effect.runFork(runDelayReleaser(jetstream(nats.nc), nats.jsm, [q]))
  cleanup.push(async () => void Effect.runFork(Fiber.interrupt(fiber)))
  return () => Effect.runPromise(Fiber.interrupt(fiber))
}
/** A delayed job the way any publisher sends one: to `jetscale.delayed.<queue>` with the header. */
const publishDelayed = (q: QueueConfig, body: string, notBefore: string | undefined, extra: Record<string, string> = {}) => {
  const h = natsHeaders()
  if (notBefore !== undefined) h.set(notBeforeHeader, notBefore)
  for (const [k, v] of Object.entries(extra)) h.set(k, v)
  return jetstream(nats.nc).publish(delayedSubject(q.name), body, { headers: h })
}
const workMessages = async (q: QueueConfig) => (await nats.jsm.streams.info(q.stream)).state.messages
/** Every message in the queue's stream (it has no worker: nothing is acked away). */
const workBodies = async (q: QueueConfig) => {
  const info = await nats.jsm.streams.info(q.stream)
  const out: Array<{ body: string; seq: number; time: number; header: Record<string, string> }> = []
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await nats.jsm.streams.getMessage(q.stream, { seq }).catch(() => null)
    if (m) out.push({ body: m.string(), seq: m.seq, time: m.time.getTime(), header: Object.fromEntries((m.header?.keys() ?? []).map((k) => [k, m.header.get(k)])) })
  }
  return out
}
const delayedOf = async (q: QueueConfig) => (await delayedCounts(nats.jsm).pipe(Effect.runPromise)).get(q.name) ?? 0

describe("delayed jobs: pure parts", () => {
  it("Jetscale-Not-Before is RFC 3339 or ms; the releaser waits at most an hour at a time", () => {
    expect(parseNotBefore("2026-12-01T18:00:00Z")).toBe(Date.UTC(2026, 11, 1, 18))
    expect(parseNotBefore("2026-12-01T19:00:00.250+01:00")).toBe(Date.UTC(2026, 11, 1, 18, 0, 0, 250))
    expect(parseNotBefore("1700000000000")).toBe(1_700_000_000_000)
    for (const bad of ["tomorrow", "2026-12-01", "2026-13-01T00:00:00Z", "", "-5", "1e12"]) expect(parseNotBefore(bad)).toBeUndefined()
    expect(formatInstant(Date.UTC(2026, 11, 1, 18))).toBe("2026-12-01T18:00:00Z")
    expect(releaseStep(undefined, 1000)).toEqual({ _tag: "release" })
    expect(releaseStep("1000", 1000)).toEqual({ _tag: "release" })
    expect(releaseStep("2000", 1000)).toEqual({ _tag: "wait", ms: 1000 })
    expect(releaseStep(String(10 * 3600_000), 0)).toEqual({ _tag: "wait", ms: 3600_000 })
    expect(releaseStep("soon", 0)).toEqual({ _tag: "release-unparsable", value: "soon" })
    expect(releaseSubject(["jobs.a.*", "jobs.a.x"], "jobs.a.y")).toBe("jobs.a.y")
    expect(releaseSubject(["jobs.a.*", "jobs.a.x"], "jobs.b")).toBe("jobs.a.x")
    expect(releaseSubject(["jobs.a.>"], undefined)).toBeUndefined()
  })

  it("--delay/--at are bounded and checked, naming the field", () => {
    const names = { delay: "--delay", at: "--at" }
    const now = Date.UTC(2026, 11, 1, 12)
    expect(dueTime({ delay: "10m" }, now, names)).toEqual({ due: now + 600_000 })
    expect(dueTime({ delay: "1500" }, now, names)).toEqual({ due: now + 1500 })
    expect(dueTime({ delay: 2000 }, now, names)).toEqual({ due: now + 2000 })
    expect(dueTime({ at: "2026-12-01T18:00:00Z" }, now, names)).toEqual({ due: Date.UTC(2026, 11, 1, 18) })
    expect(dueTime({ at: "2026-12-01T11:59:30Z" }, now, names)).toEqual({ due: undefined })
    expect(dueTime({}, now, names)).toEqual({ due: undefined })
    const problems = [
      [{ delay: "soon" }, `--delay: invalid duration "soon"`],
      [{ delay: "0s" }, "--delay: expected a duration > 0"],
      [{ delay: "367d" }, "--delay: expected at most 366d"],
      [{ delay: -1 }, "--delay: expected ms from 1"],
      [{ at: "tomorrow" }, "--at: expected an RFC 3339 time"],
      [{ at: "2026-12-01T11:58:00Z" }, "--at: 2026-12-01T11:58:00Z is more than a minute in the past"],
      [{ at: "2028-12-01T11:58:00Z" }, "more than 366 days ahead"],
      [{ delay: "1m", at: "2026-12-01T18:00:00Z" }, "--delay and --at: give one of them, not both"]
    ] as const
    for (const [t, text] of problems) expect((dueTime(t, now, names) as { problem: string }).problem).toContain(text)
  })
})

describe("delayed jobs on a real nats-server", () => {
  it("provisioning: JETSCALE_DELAYED (work queue, file, bounded, discard new) and one release consumer per queue, idempotent; another deployment's consumer is refused", async () => {
    const [a, b] = [testQueue("dprov"), testQueue("dprov")]
    expect(["created", "unchanged"]).toContain(await Effect.runPromise(provisionDelayed(nats.jsm, [a, b])))
    const stream = await nats.jsm.streams.info(delayedStream)
    expect(stream.config).toMatchObject({ subjects: ["jetscale.delayed.>"], retention: "workqueue", storage: "file", discard: "new", max_bytes: 1024 ** 3, duplicate_window: 120e9, num_replicas: 1 })
    const consumer = await nats.jsm.consumers.info(delayedStream, releaseConsumer(a.name))
    expect(consumer.config).toMatchObject({ durable_name: `release-${a.name}`, filter_subject: `jetscale.delayed.${a.name}`, ack_policy: AckPolicy.Explicit, max_deliver: -1, max_ack_pending: -1, ack_wait: 10e9 })
    expect(await Effect.runPromise(provisionDelayed(nats.jsm, [a, b]))).toBe("unchanged")
    const again = await nats.jsm.consumers.info(delayedStream, releaseConsumer(a.name))
    expect(again.created).toBe(consumer.created)
    const refused = await Effect.runPromise(Effect.flip(provisionDelayed(nats.jsm, [a], { deployment: "blue" })))
    expect(refused.message).toContain(`consumer "release-${a.name}" belongs to the jetscale deployment default, not blue`)
  })

  it("a delayed job waits outside the work queue (not in num_pending) and enters it once when due, with its own headers", async () => {
    const q = await setup("dwait")
    startReleaser(q)
    const start = Date.now()
    const due = start + 3000
    const job = { subject: q.subjects[0]!, data: new TextEncoder().encode(`{"id":"timed"}`), headers: natsHeaders(), queue: q }
    job.headers.set("X-Tenant", "acme")
    const stored = await Effect.runPromise(publishJob(jetstream(nats.nc), asDelayed(job, q.name, due)))
    const traceId = "0af7651916cd43dd8448eb211c80319c"
    await publishDelayed(q, `{"id":"ms"}`, String(start + 2500), { traceparent: `00-${traceId}-b7ad6b7169203331-01` })
    await publishDelayed(q, `{"id":"no-header"}`, undefined)
    await publishDelayed(q, `{"id":"garbage"}`, "next tuesday")

    // The two without a usable time go in at once; the timed ones are not in the work stream at all.
    await waitFor("the jobs without a time", async () => (await workMessages(q)) === 2, 5000)
    expect(Date.now()).toBeLessThan(start + 2500)
    expect((await nats.jsm.consumers.info(q.stream, q.consumer)).num_pending).toBe(2)
    expect(await delayedOf(q)).toBe(2)

    const all = await waitFor("every job in the work stream", async () => { const w = await workBodies(q); return w.length === 4 && w }, 8000)
    const byId = new Map(all.map((m) => [JSON.parse(m.body).id as string, m]))
    expect(byId.get("ms")!.time).toBeGreaterThanOrEqual(start + 2500)
    // The job's trace goes on through its release.
    expect(byId.get("ms")!.header["traceparent"]).toContain(`00-${traceId}-`)
    const timed = byId.get("timed")!
    expect(timed.time).toBeGreaterThanOrEqual(due)
    expect(timed.time - due).toBeLessThan(1500)
    expect(timed.header).toMatchObject({
      "X-Tenant": "acme",
      [delayedUntilHeader]: formatInstant(due),
      "Nats-Msg-Id": releaseMsgId(Date.parse((await nats.jsm.streams.info(delayedStream)).created), stored.seq)
    })
    expect(Object.keys(timed.header)).not.toContain(notBeforeHeader)
    expect(Object.keys(timed.header)).not.toContain(subjectHeader)
    expect(timed.body).toBe(`{"id":"timed"}`)
    await new Promise((r) => setTimeout(r, 300))
    expect(await workMessages(q)).toBe(4)
    expect(await delayedOf(q)).toBe(0)
    const release = await nats.jsm.consumers.info(delayedStream, releaseConsumer(q.name))
    expect({ pending: release.num_pending, ackPending: release.num_ack_pending }).toEqual({ pending: 0, ackPending: 0 })
  })

  it("Jetscale-Subject names which of the queue's subjects the job enters on; the first subject otherwise", async () => {
    const name = uniqueName("dsub")
    const q = await setup("dsub", { name, subjects: [`jobs.${name}.a`, `jobs.${name}.b`] })
    startReleaser(q)
    await publishDelayed(q, `{"id":"b"}`, String(Date.now()), { [subjectHeader]: `jobs.${name}.b` })
    await publishDelayed(q, `{"id":"not-ours"}`, undefined, { [subjectHeader]: "jobs.someone-else" })
    await publishDelayed(q, `{"id":"none"}`, undefined)
    await waitFor("the 3 jobs", async () => (await workMessages(q)) === 3, 5000)
    const subjects = new Map<string, string>()
    for (let seq = 1; seq <= 3; seq++) {
      const m = await nats.jsm.streams.getMessage(q.stream, { seq })
      subjects.set(JSON.parse(m!.string()).id, m!.subject)
    }
    expect(Object.fromEntries(subjects)).toEqual({ b: `jobs.${name}.b`, "not-ours": `jobs.${name}.a`, none: `jobs.${name}.a` })
  })

  it("a full queue (maxBacklog) holds due jobs back in JETSCALE_DELAYED; they enter once there is room", async () => {
    const q = await setup("dfull", { maxBacklog: 1 })
    await jetstream(nats.nc).publish(q.subjects[0]!, `{"id":"first"}`)
    startReleaser(q)
    await publishDelayed(q, `{"id":"waits"}`, String(Date.now()))
    await new Promise((r) => setTimeout(r, 800))
    expect(await workMessages(q)).toBe(1)
    expect(await delayedOf(q)).toBe(1)
    // A worker takes the first job: room for the delayed one.
    const c = await jetstream(nats.nc).consumers.get(q.stream, q.consumer)
    const first = await c.next({ expires: 2000 })
    await first!.ackAck()
    const all = await waitFor("the delayed job in the queue", async () => { const w = await workBodies(q); return w.length === 1 && w[0]!.body.includes("waits") && w }, 8000)
    expect(all).toHaveLength(1)
    expect(await delayedOf(q)).toBe(0)
  })

  it("a releaser that died between its publish and its ack: the job comes back after ack_wait and is not stored twice", async () => {
    const q = await setup("dcrash")
    // ack_wait of 1s for this test only (10s in production): the dead releaser's job comes back sooner.
    await nats.jsm.consumers.update(delayedStream, releaseConsumer(q.name), { ack_wait: 1e9 })
    await publishDelayed(q, `{"id":"once"}`, String(Date.now()))
    const dying = await connect({ servers: nats.server.url })
    const consumer = await jetstream(dying).consumers.get(delayedStream, releaseConsumer(q.name))
    const m = (await consumer.next({ expires: 2000 })) as JsMsg
    const created = Date.parse((await nats.jsm.streams.info(delayedStream)).created)
    await jetstream(dying).publish(q.subjects[0]!, m.data, { msgID: releaseMsgId(created, m.seq) })
    await dying.close() // no ack
    expect(await workMessages(q)).toBe(1)
    startReleaser(q)
    await waitFor("the delayed job settled", async () => (await delayedOf(q)) === 0, 8000)
    expect(await workBodies(q)).toHaveLength(1)
  })

  it("stopped and started again around the due times of 50 jobs: each enters its queue exactly once", async () => {
    const q = await setup("drestart")
    const start = Date.now()
    await Promise.all(Array.from({ length: 50 }, (_, i) => publishDelayed(q, JSON.stringify({ id: i }), formatInstant(start + 300 + i * 70))))
    const stop = startReleaser(q)
    await new Promise((r) => setTimeout(r, 1000))
    await stop() // waits for the pull in progress: up to 2s more of releases
    const halfway = await workMessages(q)
    expect(halfway).toBeGreaterThan(0)
    expect(halfway).toBeLessThan(50)
    startReleaser(q)
    const all = await waitFor("50 jobs in the queue", async () => { const w = await workBodies(q); return w.length >= 50 && w }, 10_000)
    await new Promise((r) => setTimeout(r, 300))
    const ids = all.map((m) => JSON.parse(m.body).id as number).sort((x, y) => x - y)
    expect(ids).toEqual(Array.from({ length: 50 }, (_, i) => i))
    expect(await workMessages(q)).toBe(50)
    for (const m of all) expect(m.time).toBeGreaterThanOrEqual(start + 300 + JSON.parse(m.body).id * 70)
  })

  it("delayedCounts: jobs waiting per queue; queues with none are absent", async () => {
    const [a, b] = [await setup("dcount"), await setup("dcount")]
    const later = formatInstant(Date.now() + 3600_000)
    for (let i = 0; i < 3; i++) await publishDelayed(a, "{}", later)
    await publishDelayed(b, "{}", later)
    const counts = await Effect.runPromise(delayedCounts(nats.jsm))
    expect(counts.get(a.name)).toBe(3)
    expect(counts.get(b.name)).toBe(1)
    expect(counts.has("nope")).toBe(false)
  })
})

describe("the job route: ?delay= and ?at=", () => {
  const unused = () => Effect.die(new Error("not used in this test"))
  const fakeScaler = Scaler.of({
    status: Effect.succeed([]), setOverride: unused, clearOverride: unused, recentDecisions: Effect.succeed([]), apply: unused,
    ready: Effect.succeed({ nats: true, runtime: true, failingQueues: {} }),
    role: Effect.succeed({ id: "test", role: "leader" as const, leader: "test" })
  })
  const startAdmin = async (queues: ReadonlyArray<QueueConfig>) => {
    const scope = Effect.runSync(Scope.make())
    const submitter = Submit.layer.pipe(Layer.provideMerge(LiveConfig.layer({ queues } as unknown as JetscaleConfig)), Layer.provideMerge(Nats.layer({ url: nats.server.url }, "delayed-test")))
    const layer = Admin.layer({ listen: "127.0.0.1:0" }).pipe(Layer.provide(Layer.succeed(Scaler, fakeScaler)), Layer.provide(submitter))
    const ctx = await Effect.runPromise(Layer.buildWithScope(layer, scope))
    cleanup.push(() => Effect.runPromise(Scope.close(scope, Exit.void)))
    return Context.get(ctx, Admin.AdminServer).url
  }

  it("202 with dueAt: the jobs wait in JETSCALE_DELAYED, then enter the queue; 400 naming the field for a bad delay or at", async () => {
    const q = await setup("dhttp")
    const url = await startAdmin([q])
    const post = async (query: string, body = `{"id":"h"}`) => {
      const res = await fetch(`${url}/api/queues/${q.name}/jobs${query}`, { method: "POST", body, headers: { "content-type": "application/json" } })
      return { status: res.status, json: await res.json() as Record<string, unknown> }
    }
    const before = Date.now()
    const one = await post("?delay=1s")
    expect(one).toMatchObject({ status: 202, json: { queue: q.name, stream: delayedStream, subject: delayedSubject(q.name), seq: expect.any(Number), dueAt: expect.any(String) } })
    const dueAt = Date.parse(one.json["dueAt"] as string)
    expect(dueAt).toBeGreaterThanOrEqual(before + 1000)
    const at = formatInstant(Date.now() + 1500)
    expect(await post(`?at=${encodeURIComponent(at)}`, `[{"id":"b1"},{"id":"b2"}]`)).toMatchObject({ status: 202, json: { seqs: [expect.any(Number), expect.any(Number)], dueAt: at } })
    expect(await workMessages(q)).toBe(0)
    expect(await delayedOf(q)).toBe(3)

    for (const [query, text] of [
      ["?delay=soon", "delay: invalid duration"],
      ["?delay=0", "delay: expected a duration > 0"],
      ["?delay=400d", "delay: expected at most 366d"],
      ["?at=tomorrow", "at: expected an RFC 3339 time"],
      ["?at=2020-01-01T00:00:00Z", "at: 2020-01-01T00:00:00Z is more than a minute in the past"],
      ["?delay=1m&at=2026-12-01T18:00:00Z", "delay and at: give one of them, not both"],
      ["?delay=1m&delay=2m", "delay: given 2 times"]
    ] as const) {
      const r = await post(query)
      expect(r.status, query).toBe(400)
      expect(r.json["error"], query).toContain(text)
    }
    expect(await delayedOf(q)).toBe(3)

    startReleaser(q)
    const all = await waitFor("the 3 jobs in the queue", async () => { const w = await workBodies(q); return w.length === 3 && w }, 8000)
    expect(all.map((m) => JSON.parse(m.body).id).sort()).toEqual(["b1", "b2", "h"])
  })
})

describe("delayed jobs under the generated NATS accounts", () => {
  it("the publisher sends delayed jobs, a worker puts back its own queue's early jobs only, the scaler provisions and releases", async () => {
    const [mine, other] = [testQueue("dperm"), testQueue("dperm")]
    const server = await startStackNatsServer([mine, other])
    const conns: Array<{ close: () => Promise<void> }> = []
    cleanup.push(async () => {
      for (const c of conns) await c.close().catch(() => undefined)
      await server.stop()
    })
    const scaler = await connectAs(server.url, "scaler", { ...server.passwords })
    const publisher = await connectAs(server.url, "publisher", { ...server.passwords })
    const worker = await connectAsWorkerOf(server.url, mine.name, server.passwords)
    conns.push(scaler, publisher, worker)
    const scalerJsm = await jetstreamManager(scaler)
    for (const q of [mine, other]) await Effect.runPromise(provisionQueue(scalerJsm, q))
    await Effect.runPromise(provisionDelayed(scalerJsm, [mine, other]))

    const h = () => {
      const x = natsHeaders()
      x.set(notBeforeHeader, String(Date.now() + 500))
      return x
    }
    expect((await jetstream(publisher).publish(delayedSubject(mine.name), `{"id":"p"}`, { headers: h() })).stream).toBe(delayedStream)
    expect((await jetstream(worker).publish(delayedSubject(mine.name), `{"id":"w"}`, { headers: h() })).stream).toBe(delayedStream)
    await expect(jetstream(worker).publish(delayedSubject(other.name), "{}", { headers: h() })).rejects.toThrow(/Permissions Violation for Publish to "jetscale\.delayed\./)

    const releaser = Effect.runFork(runDelayReleaser(jetstream(scaler), scalerJsm, [mine]))
    cleanup.push(async () => void Effect.runFork(Fiber.interrupt(releaser)))
    await waitFor("both jobs released under the scaler user", async () => (await scalerJsm.streams.info(mine.stream)).state.messages === 2, 8000)
    // and acked (the scaler may ack on JETSCALE_DELAYED): nothing left to release
    await waitFor("the release consumer settled", async () => {
      const c = await scalerJsm.consumers.info(delayedStream, releaseConsumer(mine.name))
      return c.num_pending + c.num_ack_pending === 0
    }, 5000)
  })
})
