// The admin API's routes on an effect/http router. `/healthz` and `/metrics` are always open; every
// other path, unknown ones included, wants the admin token when one is configured: the bearer header,
// or the dashboard's session cookie (./session.ts; `POST /login` sets it). The job route
// (`POST /api/queues/<name>/jobs`) also takes `admin.submitToken`, so producers need not hold the
// admin token. `GET /` is the dashboard (its login form without the token), fed by
// `GET /api/dashboard`; the DLQ routes are in ./dlq-routes.ts. Errors are JSON `{"error": "..."}`
// with 400 (bad body or parameter), 401 (token), 403 (a cookie-authorized change from another
// origin), 404 (unknown queue, no override, no route), 409 (nothing replayed), 413 (body too large),
// 429 (queue full, with Retry-After), 502 (NATS failed).
import { ByteSize, Clock, Effect, Layer, Result } from "effect"
import { HttpIncomingMessage, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import { LiveConfig } from "../config/live.ts"
import type { JetscaleConfig } from "../config/model.ts"
import { Scaler, type OverrideError } from "../scaler/scaler.ts"
import { makeBearerCheck } from "./auth.ts"
import { makeDashboard, parseSince } from "./dashboard.ts"
import { makeDlqRoutes } from "./dlq-routes.ts"
import { parseJobsBody, parseJobsTiming } from "./jobs-request.ts"
import { makePageRoutes } from "./page-routes.ts"
import { error, json, queryParam, queueParam, readBody } from "./respond.ts"
import { parseScaleRequest } from "./scale-request.ts"
import { makeSessions, sameOrigin, sessionCookieName } from "./session.ts"
import { JobSubmitter } from "./submit.ts"

/** Larger request bodies are refused (the only body is `{"replicas": N, "ttl": "10m"}`). */
const maxBodyBytes = 16 * 1024
const maxBodySize = ByteSize.bytes(maxBodyBytes)
const tooLarge = () => error(413, `body: larger than ${maxBodyBytes / 1024} KiB`)

const unauthorized = HttpServerResponse.jsonUnsafe({ error: "unauthorized" }, { status: 401, headers: { "www-authenticate": 'Bearer realm="jetscale"' } })
const overrideFailed = (e: OverrideError) => error(e.reason === "unknown-queue" ? 404 : e.reason === "standby" ? 503 : 400, e.message)

/** A job route body (one job, or a JSON array of them) larger than this is refused. */
const maxJobsBodyBytes = 16 * 1024 * 1024
/** How long a producer refused by a full queue is asked to wait. */
const fullRetryAfterSeconds = 5

const crossOrigin = error(403, "cross-origin request refused: a change made with the session cookie must come from the dashboard's own page")
const safeMethods = new Set(["GET", "HEAD", "OPTIONS"])

export const routes = (admin: JetscaleConfig["admin"]) => HttpRouter.use(Effect.fn(function*(router) {
  const scaler = yield* Scaler
  const submitter = yield* JobSubmitter
  const live = yield* LiveConfig
  const token = admin.token
  const authorized = makeBearerCheck(token)
  const sessions = makeSessions(token)
  const hasSession = (request: HttpServerRequest.HttpServerRequest) => sessions.required && sessions.valid(request.cookies[sessionCookieName])
  /** The admin token: the bearer header, or the session cookie. */
  const allowed = (request: HttpServerRequest.HttpServerRequest) => authorized(request.headers["authorization"]) || hasSession(request)
  const submitAuthorized = admin.submitToken === undefined ? authorized : makeBearerCheck(admin.submitToken)
  /** The job route: the submit token or, when one is set, the admin token. */
  const maySubmit = (request: HttpServerRequest.HttpServerRequest) =>
    submitAuthorized(request.headers["authorization"]) || (token !== undefined && allowed(request))
  /** A change authorized by the cookie alone (no bearer token that `bearerOk` takes) must come from our own origin. */
  const forged = (request: HttpServerRequest.HttpServerRequest, bearerOk: (authorization: string | undefined) => boolean = authorized) =>
    token !== undefined && !safeMethods.has(request.method) && !bearerOk(request.headers["authorization"]) &&
    !sameOrigin(request.headers["origin"], request.headers["host"])
  /** Runs `handler` only for requests with the right token. */
  const guarded = <R>(handler: Effect.Effect<HttpServerResponse.HttpServerResponse, never, R>) =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
      !allowed(request) ? Effect.succeed(unauthorized) : forged(request) ? Effect.succeed(crossOrigin) : handler)
  const pages = yield* makePageRoutes(sessions, allowed)
  const dashboard = yield* makeDashboard(sessions.required)
  const dlq = yield* makeDlqRoutes

  yield* router.add("GET", "/healthz", HttpServerResponse.text("ok"))

  yield* router.add("GET", "/", pages.page)
  yield* router.add("POST", "/login", pages.login)
  yield* router.add("POST", "/logout", pages.logout)
  yield* router.add("GET", "/api/dashboard", guarded(Effect.gen(function*() {
    const since = parseSince(queryParam(yield* HttpServerRequest.HttpServerRequest, "since"))
    if (Result.isFailure(since)) return error(400, since.failure)
    return HttpServerResponse.jsonUnsafe(yield* dashboard(since.success), { headers: { "cache-control": "no-store" } })
  })))
  yield* router.add("GET", "/api/queues/:name/dlq", guarded(dlq.list))
  yield* router.add("POST", "/api/queues/:name/dlq/replay", guarded(dlq.replay))

  // A refused config (live reload) does not make the scaler unready: it runs the config before it.
  yield* router.add("GET", "/readyz", guarded(Effect.gen(function*() {
    const { nats, runtime, failingQueues, takeOverFailing } = yield* scaler.ready
    // A standby is ready too: it serves status, metrics and readiness, and takes over when needed.
    const role = yield* scaler.role
    const refused = yield* live.refused
    const configRefused = refused === null ? {} : { configRefused: refused, warning: `config refused at ${refused.at}, the running config stays: ${refused.problems.join("; ")}` }
    const down = [nats ? [] : ["nats"], runtime ? [] : ["runtime"]].flat()
    const failing = Object.entries(failingQueues).map(([queue, error]) => `queue ${queue}: reconcile failing: ${error}`)
    const problems = [...(down.length > 0 ? [`${down.join(" and ")} unreachable`] : []), ...failing, ...(takeOverFailing ? [`leader, but taking over fails: ${takeOverFailing}`] : [])]
    return problems.length === 0
      ? json({ ready: true, nats, runtime, failingQueues, scaler: role, ...configRefused })
      : json({ ready: false, nats, runtime, failingQueues, scaler: role, error: `not ready: ${problems.join("; ")}`, ...configRefused }, 503)
  })))

  yield* router.add("GET", "/api/queues", guarded(Effect.all([scaler.status, scaler.role]).pipe(Effect.map(([queues, role]) => json({ queues, scaler: role })))))

  yield* router.add("POST", "/api/queues/:name/scale", guarded(Effect.gen(function*() {
    const queue = yield* queueParam
    const request = yield* HttpServerRequest.HttpServerRequest
    if (Number(request.headers["content-length"] ?? 0) > maxBodyBytes) return tooLarge()
    const text = yield* request.text.pipe(Effect.provideService(HttpIncomingMessage.MaxBodySize, maxBodySize), Effect.result)
    // Without a Content-Length (chunked), the size limit shows up as a read failure.
    if (Result.isFailure(text)) return error(400, `body: cannot be read (larger than ${maxBodyBytes / 1024} KiB, or the client went away)`)
    const body = parseScaleRequest(text.success)
    if (Result.isFailure(body)) return error(400, body.failure)
    return yield* scaler.setOverride(queue, body.success.replicas, body.success.ttl).pipe(
      Effect.match({
        onFailure: overrideFailed,
        onSuccess: (o) => json({ queue, replicas: o.replicas, until: o.until })
      })
    )
  })))

  yield* router.add("POST", "/api/queues/:name/jobs", Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (!maySubmit(request)) return unauthorized
    if (forged(request, (h) => submitAuthorized(h) || authorized(h))) return crossOrigin
    const queue = yield* queueParam
    const text = yield* readBody(request, maxJobsBodyBytes)
    if (text === undefined) return error(413, `body: larger than ${maxJobsBodyBytes / 1024 / 1024} MiB (or the client went away)`)
    const body = parseJobsBody(text, request.headers["idempotency-key"], yield* submitter.maxPayload)
    if (Result.isFailure(body)) return error(body.failure.status, body.failure.message)
    const { jobs, batch, idempotencyKey } = body.success
    const due = parseJobsTiming({ delay: queryParam(request, "delay"), at: queryParam(request, "at") }, yield* Clock.currentTimeMillis)
    if (Result.isFailure(due)) return error(due.failure.status, due.failure.message)
    const priority = queryParam(request, "priority")
    if (typeof priority === "object") return error(400, "priority: given more than once")
    if (priority !== undefined && priority.length > 64) return error(400, "priority: expected a level name of at most 64 characters")
    return yield* submitter.submit(queue, jobs, idempotencyKey, due.success, priority).pipe(
      Effect.match({
        onFailure: (e) => e.reason === "unknown-queue"
          ? error(404, e.message)
          : e.reason === "invalid"
          ? error(400, e.message)
          : e.reason === "full"
          ? HttpServerResponse.jsonUnsafe({ error: e.message }, { status: 429, headers: { "retry-after": String(fullRetryAfterSeconds) } })
          : error(502, e.message),
        onSuccess: (r) => json({
          ...(batch
            ? { queue, stream: r.stream, subject: r.subject, seqs: r.seqs, duplicates: r.duplicates }
            : { queue, stream: r.stream, subject: r.subject, seq: r.seqs[0], duplicate: r.duplicates > 0 }),
          ...(r.dueAt === undefined ? {} : { dueAt: r.dueAt })
        }, 202)
      })
    )
  }))

  yield* router.add("DELETE", "/api/queues/:name/scale", guarded(Effect.gen(function*() {
    const queue = yield* queueParam
    return yield* scaler.clearOverride(queue).pipe(
      Effect.match({
        onFailure: overrideFailed,
        onSuccess: (had) => had ? json({ queue, override: "cleared" }) : json({ error: `queue ${queue} has no override`, queue, override: "none" }, 404)
      })
    )
  })))

  // Anything else: 404 (after the token check). HEAD falls back to the GET routes by itself.
  const notFound = guarded(Effect.map(HttpServerRequest.HttpServerRequest, (r) => error(404, `not found: ${r.method} ${r.url.split("?")[0]}`)))
  for (const method of ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const) yield* router.add(method, "*", notFound)
}))

/** Every admin route plus `GET /metrics` (Effect's default metric registry, Prometheus text). */
export const adminApp = (admin: JetscaleConfig["admin"]) =>
  Layer.mergeAll(routes(admin), PrometheusMetrics.layerHttp({ path: "/metrics" }))
