// The admin API over real HTTP on a free loopback port, against a fake Scaler and a real nats-server:
// health and readiness, Prometheus metrics, the queue list, manual overrides (validation, pin,
// clear), the bearer token, jobs over HTTP (202, batches, idempotency, 400/401/404/413/429), the
// dashboard's page, login and session cookie (401 rules, cross-origin refusal), its JSON snapshot,
// the DLQ routes (list and replay, every refusal a 4xx naming the field), and the `jetscale scale`
// command's client against it.
import { jetstream } from "@nats-io/jetstream"
import { headers as natsHeaders } from "@nats-io/transport-node"
import { Context, Duration, Effect, Exit, Layer, Scope } from "effect"
import { Command } from "effect/cli"
import { NodeServices } from "@effect/platform-node"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest"
import * as Admin from "../../src/admin/server.ts"
import * as Submit from "../../src/admin/submit.ts"
import * as LiveConfig from "../../src/config/live.ts"
import type { JetscaleConfig, QueueConfig } from "../../src/config/model.ts"
import { deadLetterHeaders } from "../../src/dlq/message.ts"
import { provisionDeadLettering } from "../../src/dlq/provision.ts"
import { dlqSubject } from "../../src/jetstream/names.ts"
import { provisionQueue } from "../../src/jetstream/provision.ts"
import * as Nats from "../../src/nats/connection.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { testQueue } from "../support/queue.ts"
import { waitFor } from "../support/wait.ts"
import { scale } from "../../src/cli/commands.ts"
import { requestScale } from "../../src/cli/scale.ts"
import type { ScaleEvent } from "../../src/scaler/events.ts"
import type { Override, QueueStatus } from "../../src/scaler/queue-loop.ts"
import { OverrideError, Scaler } from "../../src/scaler/scaler.ts"
import * as Metrics from "../../src/telemetry/metrics.ts"

const TOKEN = "s3cret-token"
const SUBMIT_TOKEN = "producer-token"
const nats = useNatsServer()

/** A Scaler with two queues (maxReplicas 5) that keeps overrides in a Map. */
const makeFakeScaler = () => {
  const overrides = new Map<string, Override>()
  const readiness: { nats: boolean; runtime: boolean; failingQueues: Record<string, string> } = { nats: true, runtime: true, failingQueues: {} }
  const calls: Array<{ queue: string; replicas: number; ttlMs: number }> = []
  const decisions: Array<ScaleEvent> = []
  const base = (name: string): Omit<QueueStatus, "override"> => ({
    name, stream: `JETSCALE_${name.toUpperCase()}`, consumer: "workers", pending: 7, ackPending: 2, running: 1, replicas: 1, draining: 0, suspended: 0, suspending: 0, desired: 2, reconcileError: null,
    wanted: 2, granted: null, signal: "backlog", schedule: null,
    lastDecision: { kind: "scale-up", reason: "backlog 9 / targetPending 5 = 2", at: "2026-11-23T21:00:00.000Z" }
  })
  const known = ["demo", "orders"]
  const unknown = (queue: string) => new OverrideError({ reason: "unknown-queue", message: `queue "${queue}" is not in the config (queues: demo, orders)` })
  const service = Scaler.of({
    status: Effect.sync(() => known.map((n) => ({ ...base(n), override: overrides.get(n) ?? null }))),
    setOverride: (queue, replicas, ttl) => Effect.suspend(() => {
      if (!known.includes(queue)) return Effect.fail(unknown(queue))
      if (replicas > 5) return Effect.fail(new OverrideError({ reason: "invalid", message: `replicas: expected an integer from 0 to 5 (maxReplicas of queue ${queue}), got ${replicas}` }))
      calls.push({ queue, replicas, ttlMs: Duration.toMillis(ttl) })
      const o = { replicas, until: new Date(Date.now() + Duration.toMillis(ttl)).toISOString() }
      overrides.set(queue, o)
      return Effect.succeed(o)
    }),
    clearOverride: (queue) => Effect.suspend(() => known.includes(queue) ? Effect.succeed(overrides.delete(queue)) : Effect.fail(unknown(queue))),
    ready: Effect.sync(() => ({ ...readiness, failingQueues: { ...readiness.failingQueues } })),
    recentDecisions: Effect.sync(() => [...decisions]),
    apply: () => Effect.die(new Error("no reload in this test")),
    role: Effect.succeed({ id: "test-scaler", role: "leader" as const, leader: "test-scaler" })
  })
  return { service, overrides, readiness, calls, decisions }
}

/** Starts the admin layer on 127.0.0.1:0 and returns its URL and a stop function. */
/** The job route's NATS side: real, on the file's nats-server, for `queues`. */
const submitterFor = (queues: ReadonlyArray<QueueConfig>) =>
  Submit.layer.pipe(Layer.provideMerge(LiveConfig.layer({ queues } as unknown as JetscaleConfig)), Layer.provideMerge(Nats.layer({ url: nats.server.url }, "admin-test")))

const startAdmin = async (token: string | undefined, scaler: Scaler["Service"], options: { readonly submitToken?: string; readonly queues?: ReadonlyArray<QueueConfig> } = {}) => {
  const scope = Effect.runSync(Scope.make())
  const layer = Admin.layer({ listen: "127.0.0.1:0", ...(token === undefined ? {} : { token }), ...(options.submitToken ? { submitToken: options.submitToken } : {}) }).pipe(
    Layer.provide(Layer.succeed(Scaler, scaler)),
    Layer.provide(submitterFor(options.queues ?? []))
  )
  const ctx = await Effect.runPromise(Layer.buildWithScope(layer, scope))
  return { url: Context.get(ctx, Admin.AdminServer).url, stop: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

const call = async (url: string, method = "GET", body?: string, headers: Record<string, string> = {}) => {
  const res = await fetch(url, { method, headers, ...(body === undefined ? {} : { body }) })
  const text = await res.text()
  let json: any
  try { json = JSON.parse(text) } catch { json = undefined }
  return { status: res.status, text, json, type: res.headers.get("content-type") }
}

describe("admin API without a token", () => {
  const fake = makeFakeScaler()
  let admin: Awaited<ReturnType<typeof startAdmin>>
  beforeAll(async () => { admin = await startAdmin(undefined, fake.service) })
  afterAll(async () => { await admin?.stop() })
  const post = (queue: string, body: string) => call(`${admin.url}/api/queues/${queue}/scale`, "POST", body, { "content-type": "application/json" })

  it("listens on loopback and answers /healthz (HEAD too)", async () => {
    expect(admin.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    expect(await call(`${admin.url}/healthz`)).toMatchObject({ status: 200, text: "ok" })
    expect((await call(`${admin.url}/healthz`, "HEAD")).status).toBe(200)
  })

  it("fails to start with one line when the port is taken or admin.listen is malformed", async () => {
    const port = new URL(admin.url).port
    const failure = (listen: string) => Effect.runPromise(Effect.scoped(Layer.build(Admin.layer({ listen }).pipe(
      Layer.provide(Layer.succeed(Scaler, fake.service)), Layer.provide(submitterFor([]))
    ))).pipe(Effect.flip))
    const taken = await failure(`127.0.0.1:${port}`)
    expect(taken._tag).toBe("AdminError")
    expect(taken.message).toBe(`admin API cannot listen on 127.0.0.1:${port}: listen EADDRINUSE: address already in use 127.0.0.1:${port}`)
    expect((await failure("localhost")).message).toBe(`admin.listen: expected host:port (e.g. 127.0.0.1:9464), got "localhost"`)
  })

  it("/readyz: 200 when NATS and the runtime answer, 503 naming what does not", async () => {
    expect(await call(`${admin.url}/readyz`)).toMatchObject({ status: 200, json: { ready: true, nats: true, runtime: true } })
    fake.readiness.nats = false
    try {
      expect(await call(`${admin.url}/readyz`)).toMatchObject({ status: 503, json: { ready: false, nats: false, runtime: true, error: "not ready: nats unreachable" } })
      fake.readiness.runtime = false
      expect((await call(`${admin.url}/readyz`)).json.error).toBe("not ready: nats and runtime unreachable")
      fake.readiness.nats = true
      fake.readiness.runtime = true
      fake.readiness.failingQueues = { demo: "RangeError: Invalid time value" }
      expect(await call(`${admin.url}/readyz`)).toMatchObject({
        status: 503,
        json: { ready: false, failingQueues: { demo: "RangeError: Invalid time value" }, error: "not ready: queue demo: reconcile failing: RangeError: Invalid time value" }
      })
    } finally {
      fake.readiness.nats = true
      fake.readiness.runtime = true
      fake.readiness.failingQueues = {}
    }
  })

  it("/metrics serves the recorded metrics as Prometheus text", async () => {
    await Effect.runPromise(Effect.all([
      Metrics.registerQueue("adm"),
      Metrics.recordQueue("adm", { pending: 12, ackPending: 3, desired: 2, running: 1, draining: 0, suspended: 0 }),
      Metrics.recordScaleEvent("adm", "up"),
      Metrics.recordColdStart("adm", 0.8),
      Metrics.recordDeadLetter("adm", "max_deliveries"),
      Metrics.recordWorkerCrash("adm"),
      Metrics.recordJobs("adm", { outcome: "succeeded", count: 1, seconds: 0.02, le: 0.025 })
    ]))
    const res = await call(`${admin.url}/metrics`)
    expect(res.status).toBe(200)
    expect(res.type).toContain("text/plain; version=0.0.4")
    const lines = res.text.split("\n")
    for (const line of [
      "# TYPE jetscale_queue_backlog gauge",
      `jetscale_queue_backlog{queue="adm"} 15`,
      `jetscale_queue_ack_pending{queue="adm"} 3`,
      `jetscale_replicas{queue="adm",state="desired"} 2`,
      `jetscale_replicas{queue="adm",state="running"} 1`,
      "# TYPE jetscale_scale_events_total counter",
      `jetscale_scale_events_total{queue="adm",direction="up"} 1`,
      `jetscale_scale_events_total{queue="adm",direction="down"} 0`,
      "# TYPE jetscale_cold_start_seconds histogram",
      `jetscale_cold_start_seconds_bucket{queue="adm",le="1"} 1`,
      `jetscale_cold_start_seconds_count{queue="adm"} 1`,
      `jetscale_dlq_messages_total{queue="adm",reason="max_deliveries"} 1`,
      `jetscale_worker_crashes_total{queue="adm"} 1`,
      `jetscale_jobs_total{queue="adm",outcome="succeeded"} 1`,
      `jetscale_job_duration_seconds_count{queue="adm"} 1`
    ]) expect(lines).toContain(line)
  })

  it("/api/queues lists each queue's status with its last decision and override", async () => {
    const res = await call(`${admin.url}/api/queues`)
    expect(res.status).toBe(200)
    expect(res.type).toContain("application/json")
    expect(res.json.queues).toHaveLength(2)
    expect(res.json.queues[0]).toEqual({
      name: "demo", stream: "JETSCALE_DEMO", consumer: "workers", pending: 7, ackPending: 2, running: 1, replicas: 1, draining: 0, suspended: 0, suspending: 0, desired: 2,
      lastDecision: { kind: "scale-up", reason: "backlog 9 / targetPending 5 = 2", at: "2026-11-23T21:00:00.000Z" }, override: null, reconcileError: null,
      wanted: 2, granted: null, signal: "backlog", schedule: null
    })
  })

  it("rejects bad scale requests with 400 and a message naming the field", async () => {
    const cases: Array<[string, string]> = [
      ["{nope", "body: invalid JSON ("],
      ["", "body: expected a JSON object like {\"replicas\": 3, \"ttl\": \"10m\"}, got an empty body"],
      ["[1]", "body: expected a JSON object like {\"replicas\": 3, \"ttl\": \"10m\"}, got an array"],
      [`{"replicas": -1}`, "replicas: expected an integer >= 0, got -1"],
      [`{"replicas": 1.5}`, "replicas: expected an integer >= 0, got 1.5"],
      [`{"replicas": "3"}`, "replicas: expected an integer >= 0, got \"3\""],
      [`{"ttl": "5m"}`, "replicas: required (an integer >= 0)"],
      [`{"replicas": 2, "ttl": "soon"}`, "ttl: invalid duration \"soon\" (use 30s, 10m, 1h)"],
      [`{"replicas": 2, "ttl": 600}`, "ttl: expected a duration like 30s, 10m or 1h, got 600"],
      [`{"replicas": 2, "ttl": "0s"}`, `ttl: expected a duration from 1ms to 30d, got "0s"`],
      [`{"replicas": 2, "ttl": "99999999d"}`, `ttl: expected a duration from 1ms to 30d, got "99999999d"`],
      [`{"replicas": 2, "ttl": "31d"}`, `ttl: expected a duration from 1ms to 30d, got "31d"`],
      [`{"replica": 2}`, "body: unknown field \"replica\" (expected replicas and optionally ttl)"],
      [`{"replicas": 9}`, "replicas: expected an integer from 0 to 5 (maxReplicas of queue demo), got 9"]
    ]
    for (const [body, message] of cases) {
      const res = await post("demo", body)
      expect({ body, status: res.status }).toEqual({ body, status: 400 })
      expect(res.json.error).toContain(message)
    }
    const huge = await post("demo", `{"replicas": 1, "ttl": "${"9".repeat(20_000)}s"}`)
    expect(huge).toMatchObject({ status: 413, json: { error: "body: larger than 16 KiB" } })
    expect(fake.calls).toEqual([])
  })

  it("404 for an unknown queue and an unknown route", async () => {
    expect(await post("nope", `{"replicas": 1}`)).toMatchObject({ status: 404, json: { error: `queue "nope" is not in the config (queues: demo, orders)` } })
    expect(await call(`${admin.url}/api/queues/nope/scale`, "DELETE")).toMatchObject({ status: 404 })
    expect(await call(`${admin.url}/nothing-here?x=1`)).toMatchObject({ status: 404, json: { error: "not found: GET /nothing-here" } })
    expect(await call(`${admin.url}/api/queues`, "POST", "{}")).toMatchObject({ status: 404, json: { error: "not found: POST /api/queues" } })
  })

  it("POST pins an override (ttl default 10m), DELETE ends it, a second DELETE is 404", async () => {
    const before = Date.now()
    const set = await post("demo", `{"replicas": 3}`)
    expect(set.status).toBe(200)
    expect(set.json).toEqual({ queue: "demo", replicas: 3, until: expect.any(String) })
    expect(Date.parse(set.json.until) - before).toBeGreaterThanOrEqual(600_000 - 1000)
    expect(fake.calls.at(-1)).toEqual({ queue: "demo", replicas: 3, ttlMs: 600_000 })

    expect((await post("orders", `{"replicas": 0, "ttl": "90s"}`)).json).toMatchObject({ queue: "orders", replicas: 0 })
    expect(fake.calls.at(-1)).toEqual({ queue: "orders", replicas: 0, ttlMs: 90_000 })
    const listed = (await call(`${admin.url}/api/queues`)).json.queues
    expect(listed.map((q: QueueStatus) => q.override?.replicas)).toEqual([3, 0])

    expect(await call(`${admin.url}/api/queues/demo/scale`, "DELETE")).toMatchObject({ status: 200, json: { queue: "demo", override: "cleared" } })
    expect(fake.overrides.has("demo")).toBe(false)
    expect(await call(`${admin.url}/api/queues/demo/scale`, "DELETE")).toMatchObject({ status: 404, json: { error: "queue demo has no override", override: "none" } })
    fake.overrides.clear()
  })
})

describe("admin API with a token", () => {
  const fake = makeFakeScaler()
  let admin: Awaited<ReturnType<typeof startAdmin>>
  beforeAll(async () => { admin = await startAdmin(TOKEN, fake.service) })
  afterAll(async () => { await admin?.stop() })

  it("/healthz and /metrics stay open", async () => {
    expect((await call(`${admin.url}/healthz`)).status).toBe(200)
    expect((await call(`${admin.url}/metrics`)).status).toBe(200)
  })

  it("a missing or wrong token gets 401 on /readyz, /api/* and unknown paths", async () => {
    const targets: Array<[string, string, string?]> = [
      ["GET", "/readyz"], ["GET", "/api/queues"], ["POST", "/api/queues/demo/scale", `{"replicas": 1}`],
      ["DELETE", "/api/queues/demo/scale"], ["GET", "/elsewhere"]
    ]
    const wrong = [{}, { authorization: "Bearer nope" }, { authorization: `Bearer ${TOKEN}x` }, { authorization: `Basic ${TOKEN}` }, { authorization: TOKEN }]
    for (const [method, path, body] of targets) {
      for (const headers of wrong) {
        const res = await call(`${admin.url}${path}`, method, body, headers)
        expect({ method, path, headers, status: res.status, json: res.json }).toEqual({ method, path, headers, status: 401, json: { error: "unauthorized" } })
      }
    }
    expect(fake.calls).toEqual([])
  })

  it("the right token is let through", async () => {
    const auth = { authorization: `Bearer ${TOKEN}` }
    expect((await call(`${admin.url}/readyz`, "GET", undefined, auth)).status).toBe(200)
    expect((await call(`${admin.url}/api/queues`, "GET", undefined, { authorization: `bearer ${TOKEN}` })).status).toBe(200)
    expect((await call(`${admin.url}/api/queues/demo/scale`, "POST", `{"replicas": 2, "ttl": "1m"}`, auth)).json).toMatchObject({ queue: "demo", replicas: 2 })
    expect((await call(`${admin.url}/api/queues/demo/scale`, "DELETE", undefined, auth)).status).toBe(200)
  })

  it("the scale client: pin, end, no override, bad token, unknown queue, bad values", async () => {
    const req = { url: admin.url, token: TOKEN, queue: "orders" }
    expect(await Effect.runPromise(requestScale({ ...req, target: 4, ttl: "15m" })))
      .toMatch(/^queue orders: pinned to 4 replica\(s\) until \d{4}-\d\d-\d\dT[\d:.]+Z \(15m\); then the policy resumes$/)
    expect(fake.calls.at(-1)).toEqual({ queue: "orders", replicas: 4, ttlMs: 900_000 })
    expect(await Effect.runPromise(requestScale({ ...req, target: "auto" }))).toBe("queue orders: override ended; the policy decides again")
    expect(await Effect.runPromise(requestScale({ ...req, target: "auto" }))).toBe("queue orders: no override in force; the policy already decides")

    const failure = (r: Parameters<typeof requestScale>[0]) => Effect.runPromise(Effect.flip(requestScale(r))).then((e) => e.message)
    expect(await failure({ ...req, token: "wrong", target: 1 })).toBe(`the scaler at ${admin.url} refused the admin token (check admin.token or JETSCALE_ADMIN_TOKEN)`)
    expect(await failure({ ...req, token: undefined, target: 1 })).toBe(`the scaler at ${admin.url} wants an admin token: set admin.token in the config or JETSCALE_ADMIN_TOKEN`)
    expect(await failure({ ...req, queue: "nope", target: 1 })).toBe(`queue "nope" is not in the config (queues: demo, orders)`)
    expect(await failure({ ...req, target: 9 })).toBe("replicas: expected an integer from 0 to 5 (maxReplicas of queue orders), got 9")
    expect(await failure({ ...req, target: 1, ttl: "soon" })).toBe(`--for: expected a duration like 30s, 10m or 1h, got "soon"`)
    expect(await failure({ ...req, target: 3, ttl: "99999999d" })).toBe(`--for: expected a duration from 1ms to 30d, got "99999999d"`)
    expect(await failure({ ...req, target: "auto", ttl: "5m" })).toBe("--for: applies to a replica count, not to auto")
  })
})

describe("jobs over HTTP: POST /api/queues/<name>/jobs", () => {
  const fake = makeFakeScaler()
  const demo = testQueue("http-jobs")
  const full = testQueue("http-full", { maxBacklog: 2 })
  let admin: Awaited<ReturnType<typeof startAdmin>>
  beforeAll(async () => {
    await Effect.runPromise(provisionQueue(nats.jsm, demo))
    await Effect.runPromise(provisionQueue(nats.jsm, full))
    admin = await startAdmin(TOKEN, fake.service, { submitToken: SUBMIT_TOKEN, queues: [demo, full] })
  })
  afterAll(async () => { await admin?.stop() })
  const submit = (queue: string, body: string, headers: Record<string, string> = { authorization: `Bearer ${SUBMIT_TOKEN}` }) =>
    call(`${admin.url}/api/queues/${queue}/jobs`, "POST", body, { "content-type": "application/json", ...headers })
  const stored = async (q: QueueConfig, seq: number) => (await nats.jsm.streams.getMessage(q.stream, { seq }))?.string()

  it("202 with the stream sequence; a JSON array is a batch, in order; the job is in the stream as sent", async () => {
    const one = await submit(demo.name, `{"id": "a", "n": 1}`)
    expect(one).toMatchObject({ status: 202, json: { queue: demo.name, stream: demo.stream, subject: demo.subjects[0], seq: 1, duplicate: false } })
    expect(JSON.parse((await stored(demo, 1))!)).toEqual({ id: "a", n: 1 })
    const batch = await submit(demo.name, `[{"id": "b"}, {"id": "c"}, [1, 2]]`)
    expect(batch).toMatchObject({ status: 202, json: { seqs: [2, 3, 4], duplicates: 0 } })
    expect(await stored(demo, 4)).toBe("[1,2]")
  })

  it("Idempotency-Key: a retried request stores nothing twice (Nats-Msg-Id)", async () => {
    const headers = { authorization: `Bearer ${SUBMIT_TOKEN}`, "idempotency-key": "order-7" }
    const first = await submit(demo.name, `{"order": 7}`, headers)
    const again = await submit(demo.name, `{"order": 7}`, headers)
    expect(first.status).toBe(202)
    expect(again).toMatchObject({ status: 202, json: { seq: first.json.seq, duplicate: true } })
    const msg = await nats.jsm.streams.getMessage(demo.stream, { seq: first.json.seq })
    expect(msg?.header.get("Nats-Msg-Id")).toBe("order-7")
    expect((await submit(demo.name, "{}", { ...headers, "idempotency-key": "has space" })).status).toBe(400)
  })

  it("401 without a token it takes; the admin token works too; 404 for an unknown queue", async () => {
    expect((await submit(demo.name, "{}", {})).status).toBe(401)
    expect((await submit(demo.name, "{}", { authorization: "Bearer wrong" })).status).toBe(401)
    expect((await submit(demo.name, "{}", { authorization: `Bearer ${TOKEN}` })).status).toBe(202)
    // The submit token opens only the job route.
    expect((await call(`${admin.url}/api/queues`, "GET", undefined, { authorization: `Bearer ${SUBMIT_TOKEN}` })).status).toBe(401)
    expect(await submit("nope", "{}")).toMatchObject({ status: 404, json: { error: expect.stringContaining("queue nope is not in the config") } })
  })

  it("400 naming the problem for bad JSON or an empty batch; 413 for a job over max_payload (nothing stored)", async () => {
    const before = (await nats.jsm.streams.info(demo.stream)).state.messages
    expect(await submit(demo.name, `{"id": `)).toMatchObject({ status: 400, json: { error: expect.stringContaining("body: invalid JSON") } })
    expect(await submit(demo.name, "")).toMatchObject({ status: 400, json: { error: expect.stringContaining("empty body") } })
    expect(await submit(demo.name, "[]")).toMatchObject({ status: 400, json: { error: "body: an empty array holds no job" } })
    const big = JSON.stringify({ data: "x".repeat(1024 * 1024) })
    expect(await submit(demo.name, big)).toMatchObject({ status: 413, json: { error: expect.stringContaining("max_payload of 1,048,576 bytes") } })
    expect(await submit(demo.name, `[{}, ${big}]`)).toMatchObject({ status: 413, json: { error: expect.stringContaining("body[1]:") } })
    expect((await nats.jsm.streams.info(demo.stream)).state.messages).toBe(before)
  })

  it("429 with Retry-After when the queue holds maxBacklog jobs; what was accepted stays; refusals are counted", async () => {
    expect((await submit(full.name, `[{"n": 1}, {"n": 2}]`)).status).toBe(202)
    const refused = await submit(full.name, `{"n": 3}`)
    expect(refused.status).toBe(429)
    expect(refused.json.error).toContain(`queue ${full.name} is full`)
    const res = await fetch(`${admin.url}/api/queues/${full.name}/jobs`, { method: "POST", body: "{}", headers: { authorization: `Bearer ${SUBMIT_TOKEN}` } })
    expect(res.status).toBe(429)
    expect(res.headers.get("retry-after")).toBe("5")
    expect((await nats.jsm.streams.info(full.stream)).state.messages).toBe(2)
    const metrics = await call(`${admin.url}/metrics`)
    expect(metrics.text).toMatch(new RegExp(`jetscale_jobs_refused_total\\{queue="${full.name}"\\} 2`))
  })
})

/** A request that does not follow redirects and says what came back, cookies included. */
const raw = async (url: string, method = "GET", body?: string, headers: Record<string, string> = {}) => {
  const res = await fetch(url, { method, headers, redirect: "manual", ...(body === undefined ? {} : { body }) })
  const text = await res.text()
  let json: any
  try { json = JSON.parse(text) } catch { json = undefined }
  return { status: res.status, text, json, headers: res.headers, cookie: res.headers.get("set-cookie") }
}
const form = { "content-type": "application/x-www-form-urlencoded" }
/** The `name=value` part of a Set-Cookie header. */
const cookiePair = (setCookie: string | null) => setCookie!.split(";")[0]!

describe("the dashboard's page and login, with a token", () => {
  const fake = makeFakeScaler()
  let admin: Awaited<ReturnType<typeof startAdmin>>
  beforeAll(async () => { admin = await startAdmin(TOKEN, fake.service, { queues: [testQueue("page", { name: "demo" })] }) })
  afterAll(async () => { await admin?.stop() })
  const logIn = () => raw(`${admin.url}/login`, "POST", `token=${encodeURIComponent(TOKEN)}`, form)

  it("GET / without the token: 401 with the login form and no data; with the bearer header: the dashboard", async () => {
    const login = await raw(`${admin.url}/`)
    expect(login.status).toBe(401)
    expect(login.headers.get("content-type")).toBe("text/html; charset=utf-8")
    expect(login.text).toContain(`<form method="post" action="/login">`)
    expect(login.text).not.toMatch(/demo|JETSCALE_DEMO|backlog|orders/)
    expect(login.headers.get("content-security-policy")).toMatch(/^default-src 'none'; style-src 'sha256-[^']+'; connect-src 'self'/)
    expect(login.headers.get("cache-control")).toBe("no-store")

    const page = await raw(`${admin.url}/`, "GET", undefined, { authorization: `Bearer ${TOKEN}` })
    expect(page.status).toBe(200)
    expect(page.text).toContain(`<main id="queues"`)
    // Everything inline, nothing from elsewhere: no src, href or action but the data: icon and our own routes.
    const links = [...page.text.matchAll(/(?:src|href|action)="([^"]*)"/g)].map((m) => m[1]!)
    expect(links.filter((u) => u !== "data:," && !u.startsWith("/"))).toEqual([])
    expect(page.text).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/)
    expect(page.headers.get("content-security-policy")).toMatch(/script-src 'sha256-[^']+'/)
    expect((await raw(`${admin.url}/`, "HEAD", undefined, { authorization: `Bearer ${TOKEN}` })).status).toBe(200)
  })

  it("POST /login: a wrong, missing or oversized token is refused with the form again; the right one sets an HttpOnly SameSite=Strict cookie that is not the token", async () => {
    const wrong = await raw(`${admin.url}/login`, "POST", "token=nope", form)
    expect(wrong.status).toBe(401)
    expect(wrong.text).toContain("That is not the admin token.")
    expect(wrong.cookie).toBeNull()
    const missing = await raw(`${admin.url}/login`, "POST", "user=x", form)
    expect(missing.status).toBe(400)
    expect(missing.text).toContain("token: required")
    expect((await raw(`${admin.url}/login`, "POST", `token=${"x".repeat(5000)}`, form)).status).toBe(413)

    const ok = await logIn()
    expect(ok.status).toBe(303)
    expect(ok.headers.get("location")).toBe("/")
    expect(ok.cookie).toMatch(/^jetscale_session=\d+\.[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/)
    expect(ok.cookie).not.toContain(TOKEN)
    expect(ok.cookie).not.toContain(encodeURIComponent(TOKEN))
  })

  it("the session cookie opens the page and the API; a forged or stale cookie does not", async () => {
    const cookie = { cookie: cookiePair((await logIn()).cookie) }
    expect((await raw(`${admin.url}/`, "GET", undefined, cookie)).status).toBe(200)
    expect((await raw(`${admin.url}/api/dashboard`, "GET", undefined, cookie)).status).toBe(200)
    expect((await raw(`${admin.url}/api/queues`, "GET", undefined, cookie)).status).toBe(200)
    expect((await raw(`${admin.url}/readyz`, "GET", undefined, cookie)).status).toBe(200)
    for (const bad of ["jetscale_session=", `jetscale_session=${TOKEN}`, `${cookie.cookie}x`, `other=${cookie.cookie.split("=")[1]}`]) {
      expect({ bad, status: (await raw(`${admin.url}/api/dashboard`, "GET", undefined, { cookie: bad })).status }).toEqual({ bad, status: 401 })
      expect({ bad, status: (await raw(`${admin.url}/`, "GET", undefined, { cookie: bad })).status }).toEqual({ bad, status: 401 })
    }
    // Another scaler (another process key) with the same token does not take this one's cookie.
    const other = await startAdmin(TOKEN, fake.service)
    try {
      expect((await raw(`${other.url}/api/queues`, "GET", undefined, cookie)).status).toBe(401)
    } finally {
      await other.stop()
    }
  })

  it("a change made with the cookie must come from the page's own origin; the bearer header is not asked", async () => {
    const cookie = cookiePair((await logIn()).cookie)
    const host = new URL(admin.url).host
    const pin = (headers: Record<string, string>) => raw(`${admin.url}/api/queues/demo/scale`, "POST", `{"replicas": 1}`, { "content-type": "application/json", ...headers })
    expect((await pin({ cookie, origin: admin.url })).status).toBe(200)
    expect((await pin({ cookie })).status).toBe(200)
    const forged = await pin({ cookie, origin: "http://evil.example" })
    expect(forged).toMatchObject({ status: 403, json: { error: expect.stringContaining("cross-origin request refused") } })
    expect((await pin({ cookie, origin: "null" })).status).toBe(403)
    expect((await pin({ authorization: `Bearer ${TOKEN}`, origin: "http://evil.example" })).status).toBe(200)
    expect((await raw(`${admin.url}/api/queues/demo/scale`, "DELETE", undefined, { cookie, origin: `http://${host}` })).status).toBe(200)
    expect(fake.calls.length).toBe(3)
  })

  it("POST /logout clears the cookie and ends the session (a copy of the cookie no longer opens anything); /healthz and /metrics stay open", async () => {
    const cookie = (await logIn()).cookie!.split(";")[0]!
    expect((await raw(`${admin.url}/api/queues`, "GET", undefined, { cookie })).status).toBe(200)
    const out = await raw(`${admin.url}/logout`, "POST", undefined, { cookie })
    expect(out.status).toBe(303)
    expect(out.cookie).toBe("jetscale_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
    expect((await raw(`${admin.url}/api/queues`, "GET", undefined, { cookie })).status).toBe(401)
    expect((await raw(`${admin.url}/healthz`)).status).toBe(200)
    expect((await raw(`${admin.url}/metrics`)).status).toBe(200)
  })
})

describe("the dashboard without a token", () => {
  const fake = makeFakeScaler()
  let admin: Awaited<ReturnType<typeof startAdmin>>
  beforeAll(async () => { admin = await startAdmin(undefined, fake.service) })
  afterAll(async () => { await admin?.stop() })

  it("is open as the API is: / is the dashboard, /login has nothing to do, the snapshot says no auth", async () => {
    const page = await raw(`${admin.url}/`)
    expect(page.status).toBe(200)
    expect(page.text).toContain(`<main id="queues"`)
    expect((await raw(`${admin.url}/login`, "POST", "token=x", form)).status).toBe(303)
    expect((await raw(`${admin.url}/api/dashboard`)).json).toMatchObject({ auth: false, queues: [] })
  })
})

describe("GET /api/dashboard and the DLQ routes", () => {
  const fake = makeFakeScaler()
  // Named as the fake scaler's queues, so the snapshot joins config and status.
  const demo = testQueue("dash", { name: "demo" })
  const orders = testQueue("dash", { name: "orders" })
  const auth = { authorization: `Bearer ${TOKEN}` }
  let admin: Awaited<ReturnType<typeof startAdmin>>
  const demoSeqs: Array<number> = []
  const ordersSeqs: Array<number> = []

  /** Stores a dead letter of `queue` for its job subject. */
  const putDeadLetter = async (queue: string, id: string) => {
    const headers = deadLetterHeaders(natsHeaders(), {
      queue, stream: `JETSCALE_${queue.toUpperCase()}`, subject: `jobs.${queue}`, streamSeq: 1, deliveries: 3, reason: "max_deliveries", error: `job ${id} failed: <b>boom</b>`, failedAt: new Date()
    })
    return (await jetstream(nats.nc).publish(dlqSubject(queue), JSON.stringify({ id }), { headers })).seq
  }

  beforeAll(async () => {
    for (const q of [demo, orders]) await Effect.runPromise(provisionQueue(nats.jsm, q))
    await Effect.runPromise(provisionDeadLettering(nats.jsm, [demo, orders]))
    for (let i = 0; i < 7; i++) {
      demoSeqs.push(await putDeadLetter("demo", `d${i}`))
      if (i % 3 === 0) ordersSeqs.push(await putDeadLetter("orders", `o${i}`))
    }
    await putDeadLetter("elsewhere", "e")
    fake.decisions.push(
      { queue: "orders", from: 0, to: 1, direction: "up", kind: "wake", reason: "orders woke", backlog: 1, pending: 1, ackPending: 0, at: "2026-11-23T21:00:02.000Z" },
      { queue: "demo", from: 1, to: 2, direction: "up", kind: "scale-up", reason: "backlog 9 / targetPending 5 = 2", backlog: 9, pending: 7, ackPending: 2, at: "2026-11-23T21:00:01.000Z" }
    )
    admin = await startAdmin(TOKEN, fake.service, { queues: [demo, orders] })
  })
  afterAll(async () => { await admin?.stop() })
  const get = (path: string, headers: Record<string, string> = auth) => call(`${admin.url}${path}`, "GET", undefined, headers)
  const replay = (queue: string, body: string) => call(`${admin.url}/api/queues/${queue}/dlq/replay`, "POST", body, { ...auth, "content-type": "application/json" })

  it("the snapshot: each running queue's numbers, history, decisions and newest dead letters", async () => {
    expect((await get("/api/dashboard", {})).status).toBe(401)
    const res = await get("/api/dashboard")
    expect(res.status).toBe(200)
    const { queues, ...rest } = res.json
    expect(rest).toEqual({ at: expect.any(Number), auth: true, windowSeconds: 900, sampleEverySeconds: 5, configRefused: null, dlqError: null })
    expect(queues.map((q: { name: string }) => q.name)).toEqual(["demo", "orders"])
    const [d] = queues
    expect(d).toMatchObject({
      name: "demo", stream: "JETSCALE_DEMO", backlog: 9, pending: 7, inFlight: 2, running: 1, draining: 0, desired: 2, minReplicas: 0, maxReplicas: 3, targetPending: 10,
      override: null, reconcileError: null,
      decisions: [{ at: "2026-11-23T21:00:01.000Z", from: 1, to: 2, kind: "scale-up", reason: "backlog 9 / targetPending 5 = 2" }]
    })
    expect(d.history[0]).toEqual({ at: expect.any(Number), backlog: 9, inFlight: 2, running: 1, draining: 0, desired: 2, jobsPerSecond: 0 })
    expect(d.dlq.count).toBe(7)
    expect(d.dlq.newest.map((e: { seq: number }) => e.seq)).toEqual([...demoSeqs].reverse().slice(0, 5))
    expect(d.dlq.newest[0]).toEqual({
      seq: demoSeqs.at(-1), failedAt: expect.any(String), reason: "max_deliveries", error: "job d6 failed: <b>boom</b>", deliveries: 3, subject: "jobs.demo", streamSeq: 1
    })
    expect(queues[1].dlq).toEqual({ count: 3, newest: expect.any(Array) })

    // `since`: only the samples taken after it (the page's later polls).
    const newest = d.history.at(-1).at
    expect((await get(`/api/dashboard?since=${newest}`)).json.queues[0].history.every((s: { at: number }) => s.at > newest)).toBe(true)
    expect((await get(`/api/dashboard?since=${newest - 1}`)).json.queues[0].history[0].at).toBe(newest)
    for (const since of ["x", "-1", "1.5", "1e3"]) {
      expect(await get(`/api/dashboard?since=${since}`)).toMatchObject({ status: 400, json: { error: `since: expected a time in ms since the epoch (an integer >= 0), got ${JSON.stringify(since)}` } })
    }
  })

  it("jobs/s comes from the workers' job reports (queues of the running config only)", async () => {
    nats.nc.publish("jetscale.metrics.jobs.demo", JSON.stringify({ jobs: [{ outcome: "succeeded", count: 40, seconds: 2, le: 0.1 }, { outcome: "failed", count: 10, seconds: 1, le: 0.1 }] }))
    nats.nc.publish("jetscale.metrics.jobs.elsewhere", JSON.stringify({ jobs: [{ outcome: "succeeded", count: 5, seconds: 1, le: 0.1 }] }))
    nats.nc.publish("jetscale.metrics.jobs.orders", "not json")
    const demoNow = await waitFor("demo's jobs/s", async () => {
      const q = (await get("/api/dashboard")).json.queues[0]
      return q.jobsPerSecond > 0 && q
    }, 5000)
    expect(demoNow.failedPerSecond / demoNow.jobsPerSecond).toBeCloseTo(0.2, 1)
    expect((await get("/api/dashboard")).json.queues[1].jobsPerSecond).toBe(0)
  })

  it("GET /api/queues/<name>/dlq: the newest first, `limit` from 1 to 100 (default 20), 404 for an unknown queue", async () => {
    expect((await get("/api/queues/demo/dlq", {})).status).toBe(401)
    const all = await get("/api/queues/demo/dlq")
    expect(all.status).toBe(200)
    expect(all.json.queue).toBe("demo")
    expect(all.json.count).toBe(7)
    expect(all.json.deadLetters.map((e: { seq: number }) => e.seq)).toEqual([...demoSeqs].reverse())
    expect((await get("/api/queues/demo/dlq?limit=3")).json.deadLetters.map((e: { seq: number }) => e.seq)).toEqual([...demoSeqs].reverse().slice(0, 3))
    expect((await get("/api/queues/demo/dlq?limit=100")).json.deadLetters).toHaveLength(7)
    for (const limit of ["0", "101", "abc", "-1", "1.5", "", "99999999999"]) {
      const res = await get(`/api/queues/demo/dlq?limit=${limit}`)
      expect({ limit, status: res.status, json: res.json }).toEqual({ limit, status: 400, json: { error: `limit: expected an integer from 1 to 100, got ${JSON.stringify(limit)}` } })
    }
    expect(await get("/api/queues/demo/dlq?limit=1&limit=2")).toMatchObject({ status: 400, json: { error: "limit: expected one value, got several" } })
    expect(await get("/api/queues/nope/dlq")).toMatchObject({ status: 404, json: { error: "queue nope is not in the config (queues: demo, orders)" } })
    expect((await get("/api/queues/elsewhere/dlq")).status).toBe(404)
  })

  it("POST /api/queues/<name>/dlq/replay refuses bad bodies with 400 naming the field, 413 when too large, 404 for an unknown queue", async () => {
    const cases: Array<[string, string]> = [
      ["", `body: expected {"seqs": [12, 15]} or {"all": true}, got an empty body`],
      ["{", "body: invalid JSON ("],
      ["[1]", `body: expected {"seqs": [12, 15]} or {"all": true}, got [1]`],
      ["null", `body: expected {"seqs": [12, 15]} or {"all": true}, got null`],
      [`{}`, "body: expected {\"seqs\": [12, 15]} or {\"all\": true}, got neither seqs nor all"],
      [`{"seq": [1]}`, `body: unknown field "seq" (expected seqs or all)`],
      [`{"all": false}`, "all: expected true, got false"],
      [`{"all": "yes"}`, `all: expected true, got "yes"`],
      [`{"all": true, "seqs": [1]}`, "body: seqs and all together; send one"],
      [`{"seqs": []}`, "seqs: expected a list of 1 to 100 DLQ sequence numbers, got 0 items"],
      [`{"seqs": 5}`, "seqs: expected a list of 1 to 100 DLQ sequence numbers, got 5"],
      [`{"seqs": [${Array.from({ length: 101 }, (_, i) => i + 1).join(",")}]}`, "seqs: expected a list of 1 to 100 DLQ sequence numbers, got 101 items"],
      [`{"seqs": [1, 0]}`, "seqs[1]: expected a DLQ sequence number (an integer >= 1), got 0"],
      [`{"seqs": ["3"]}`, `seqs[0]: expected a DLQ sequence number (an integer >= 1), got "3"`],
      [`{"seqs": [1.5]}`, "seqs[0]: expected a DLQ sequence number (an integer >= 1), got 1.5"],
      [`{"seqs": [1e300]}`, "seqs[0]: expected a DLQ sequence number (an integer >= 1), got 1e+300"]
    ]
    for (const [body, message] of cases) {
      const res = await replay("demo", body)
      expect({ body, status: res.status }).toEqual({ body, status: 400 })
      expect(res.json.error).toContain(message)
    }
    expect(await replay("demo", `{"seqs": [${"1,".repeat(9000)}1]}`)).toMatchObject({ status: 413, json: { error: "body: larger than 16 KiB (or the client went away)" } })
    expect(await replay("nope", `{"all": true}`)).toMatchObject({ status: 404, json: { error: "queue nope is not in the config (queues: demo, orders)" } })
    expect((await call(`${admin.url}/api/queues/demo/dlq/replay`, "POST", `{"all": true}`)).status).toBe(401)
    expect((await get("/api/queues/demo/dlq")).json.count).toBe(7)
  })

  it("replays by sequence (another queue's is refused, 409 when nothing was replayed) and all of a queue; the dashboard shows it at once", async () => {
    const refused = await replay("demo", JSON.stringify({ seqs: [ordersSeqs[0]] }))
    expect(refused.status).toBe(409)
    expect(refused.json).toMatchObject({ queue: "demo", replayed: 0, refused: 1, error: expect.stringContaining(`no dead letter of queue demo with DLQ sequence ${ordersSeqs[0]} (it is on jetscale.dlq.orders`) })

    const before = (await nats.jsm.streams.info(demo.stream)).state.messages
    const mixed = await replay("demo", JSON.stringify({ seqs: [demoSeqs[0], 999_999] }))
    expect(mixed.status).toBe(200)
    expect(mixed.json).toEqual({ queue: "demo", replayed: 1, refused: 1, refusals: [{ dlqSeq: 999_999, reason: expect.stringContaining("no dead letter of queue demo with DLQ sequence 999999") }] })
    expect((await nats.jsm.streams.info(demo.stream)).state.messages).toBe(before + 1)
    const job = await nats.jsm.streams.getMessage(demo.stream, { seq: (await nats.jsm.streams.info(demo.stream)).state.last_seq })
    expect(job?.json()).toEqual({ id: "d0" })
    expect(job?.header.get("Jetscale-Replay-Of")).toBe(String(demoSeqs[0]))

    const dashboard = (await get("/api/dashboard")).json.queues
    expect(dashboard[0].dlq.count).toBe(6)
    const all = await replay("orders", `{"all": true}`)
    expect(all).toMatchObject({ status: 200, json: { queue: "orders", replayed: 3, refused: 0, refusals: [] } })
    expect((await get("/api/dashboard")).json.queues[1].dlq).toEqual({ count: 0, newest: [] })
    expect(await replay("orders", `{"all": true}`)).toMatchObject({ status: 200, json: { replayed: 0, refused: 0 } })
  })
})

describe("jetscale scale", () => {
  const fake = makeFakeScaler()
  let admin: Awaited<ReturnType<typeof startAdmin>>
  const dir = mkdtempSync(join(tmpdir(), "jetscale-admin-"))
  beforeAll(async () => { admin = await startAdmin(TOKEN, fake.service) })
  afterAll(async () => {
    await admin?.stop()
    rmSync(dir, { recursive: true, force: true })
  })

  const writeConfig = (listen: string, token?: string) => {
    const path = join(dir, `${Math.random().toString(36).slice(2)}.yaml`)
    writeFileSync(path, `admin:\n  listen: "${listen}"\n${token ? `  token: ${token}\n` : ""}`)
    return path
  }
  /** Runs the command as `jetscale scale ...args`; returns what it printed and the exit code it set. */
  const runScale = async (args: Array<string>) => {
    const out: Array<string> = []
    const log = vi.spyOn(console, "log").mockImplementation((...xs: Array<unknown>) => void out.push(xs.join(" ")))
    const err = vi.spyOn(console, "error").mockImplementation((...xs: Array<unknown>) => void out.push(xs.join(" ")))
    const exitCode = process.exitCode
    process.exitCode = undefined
    try {
      await Effect.runPromise(Command.runWith(scale, { version: "test" })(args).pipe(Effect.provide(NodeServices.layer)))
      return { out, code: process.exitCode ?? 0 }
    } finally {
      process.exitCode = exitCode
      log.mockRestore()
      err.mockRestore()
    }
  }

  it("pins and releases through the admin API named in the config", async () => {
    const config = writeConfig(admin.url.replace("http://", ""), TOKEN)
    const pinned = await runScale(["demo", "2", "--for", "30s", "--config", config])
    expect(pinned.code).toBe(0)
    expect(pinned.out[0]).toMatch(/^queue demo: pinned to 2 replica\(s\) until .* \(30s\); then the policy resumes$/)
    expect(fake.calls.at(-1)).toEqual({ queue: "demo", replicas: 2, ttlMs: 30_000 })
    expect(await runScale(["demo", "auto", "--config", config])).toEqual({ out: ["queue demo: override ended; the policy decides again"], code: 0 })
  })

  it("one clear line when no scaler runs, or the replica count is not a number", async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port
        s.close(() => resolve(p))
      })
    })
    const config = writeConfig(`127.0.0.1:${port}`)
    expect(await runScale(["demo", "3", "--config", config])).toEqual({ out: [`jetscale: no scaler answers at http://127.0.0.1:${port} (is jetscale up running?)`], code: 1 })
    expect(await runScale(["demo", "lots", "--config", config])).toEqual({ out: [`jetscale: replicas: expected an integer >= 0 or "auto", got "lots"`], code: 1 })
  })
})
