// The admin API over real HTTP on a free loopback port, against a fake Scaler and a real nats-server:
// health and readiness, Prometheus metrics, the queue list, manual overrides (validation, pin,
// clear), the bearer token, jobs over HTTP (202, batches, idempotency, 400/401/404/413/429), and the
// `jetscale scale` command's client against it.
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
import { provisionQueue } from "../../src/jetstream/provision.ts"
import * as Nats from "../../src/nats/connection.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { testQueue } from "../support/queue.ts"
import { scale } from "../../src/cli/commands.ts"
import { requestScale } from "../../src/cli/scale.ts"
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
  const base = (name: string): Omit<QueueStatus, "override"> => ({
    name, stream: `JETSCALE_${name.toUpperCase()}`, consumer: "workers", pending: 7, ackPending: 2, running: 1, replicas: 1, draining: 0, suspended: 0, suspending: 0, desired: 2, reconcileError: null,
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
    recentDecisions: Effect.succeed([]),
    apply: () => Effect.die(new Error("no reload in this test"))
  })
  return { service, overrides, readiness, calls }
}

/** Starts the admin layer on 127.0.0.1:0 and returns its URL and a stop function. */
/** The job route's NATS side: real, on the file's nats-server, for `queues`. */
const submitterFor = (queues: ReadonlyArray<QueueConfig>) =>
  Submit.layer.pipe(Layer.provideMerge(LiveConfig.layer({ queues } as unknown as JetscaleConfig)), Layer.provide(Nats.layer({ url: nats.server.url }, "admin-test")))

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
      lastDecision: { kind: "scale-up", reason: "backlog 9 / targetPending 5 = 2", at: "2026-11-23T21:00:00.000Z" }, override: null, reconcileError: null
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
