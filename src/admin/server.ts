// The admin HTTP server on `admin.listen`: health, readiness, Prometheus metrics, the override, job
// and DLQ API and the dashboard (routes.ts), served by effect/http on a Node http.Server. Needs the
// Scaler, LiveConfig, Nats and JobSubmitter services; the dashboard's history and DLQ view are
// made here. `jetscale up` merges `layer(config.admin)` into the scaler's launched layer.
import { NodeHttpServer } from "@effect/platform-node"
import { Context, Effect, Layer, Schema } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { createServer } from "node:http"
import type { JetscaleConfig } from "../config/model.ts"
import { describe } from "../nats/connection.ts"
import * as DlqSummary from "./dlq-summary.ts"
import * as History from "./history.ts"
import { clientUrl, parseListen } from "./listen.ts"
import { adminApp } from "./routes.ts"

export class AdminError extends Schema.TaggedError<AdminError>()("AdminError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Unknown)
}) {}

/** The running admin server: where it listens (useful with port 0). */
export class AdminServer extends Context.Service<AdminServer, {
  /** e.g. `http://127.0.0.1:9464`. */
  readonly url: string
}>()("jetscale/AdminServer") {}

/** The admin server, listening until the layer is released. Fails with one line if it can't bind. */
export const layer = (admin: JetscaleConfig["admin"]) => Layer.unwrap(Effect.gen(function*() {
  const address = parseListen(admin.listen)
  if (!address) return yield* new AdminError({ message: `admin.listen: expected host:port (e.g. 127.0.0.1:9464), got ${JSON.stringify(admin.listen)}` })
  // A scrape in flight must not hold up `jetscale up`'s shutdown for long.
  const server = NodeHttpServer.layer(createServer, { host: address.host, port: address.port, gracefulShutdownTimeout: "2 seconds" })
  const app = HttpRouter.serve(adminApp(admin), { disableLogger: true, disableListenLog: true }).pipe(
    Layer.provide(Layer.merge(History.layer, DlqSummary.layer))
  )
  const announce = Layer.effect(AdminServer, Effect.gen(function*() {
    const { address: bound } = yield* HttpServer.HttpServer
    // The configured host (a wildcard becomes loopback) and the bound port (port 0 picks one).
    const url = bound._tag === "UnixPathAddress" ? HttpServer.formatAddress(bound) : clientUrl({ host: address.host, port: bound.port })
    yield* Effect.logInfo(`admin API on ${url}${admin.token ? " (bearer token required)" : ""}: dashboard ${url}/, /healthz /readyz /metrics /api/queues`)
    return AdminServer.of({ url })
  }))
  return Layer.merge(app, announce).pipe(
    Layer.provide(server),
    Layer.catchTag("ServeError", (e) =>
      Layer.effect(AdminServer, Effect.fail(new AdminError({ message: `admin API cannot listen on ${admin.listen}: ${describe(e.cause)}`, cause: e.cause }))))
  )
}))
