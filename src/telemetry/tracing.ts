// Tracing for Effect programs (the scaler, the CLI): Effect spans exported through the OpenTelemetry
// SDK when an OTLP endpoint is set, nothing otherwise.
// The module, not the package barrel: the barrel loads the metrics and logs SDKs too.
import * as OtelTracer from "@effect/opentelemetry/OtelTracer"
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node"
import { trace } from "@opentelemetry/api"
import { type Duration, Effect, Layer, type Tracer } from "effect"
import { extractContext, injectSpan, makeSpanProcessor, serviceName, tracingEnabled } from "./otel.ts"

/**
 * The tracing layer for a program named `fallbackName` (OTEL_SERVICE_NAME wins); the SDK loads only
 * when tracing is on. `shutdownTimeout` bounds the final export: a CLI command gives it little, so a
 * collector that does not answer never holds it up.
 */
export const layer = (fallbackName: string, options: { readonly shutdownTimeout?: Duration.Input } = {}) =>
  tracingEnabled()
    ? Layer.unwrap(Effect.promise(() => import("@effect/opentelemetry/NodeSdk")).pipe(Effect.map((NodeSdk) =>
      NodeSdk.layer(Effect.promise(async () => ({
        resource: { serviceName: serviceName(fallbackName), serviceVersion: "0.1.0" },
        spanProcessor: await makeSpanProcessor(),
        shutdownTimeout: options.shutdownTimeout ?? "3 seconds"
      }))))))
    : Layer.empty

/** A command's spans: exported if the collector answers within 200 ms of the end, else dropped. */
export const cliOptions = { shutdownTimeout: "200 millis" } as const

/** NATS headers carrying the current Effect span's trace context (empty headers outside a traced span). */
export const traceHeaders = (base: MsgHdrs = natsHeaders()) =>
  OtelTracer.currentOtelSpan.pipe(
    Effect.map((span) => injectSpan(span, base)),
    Effect.orElseSucceed(() => base)
  )

/** The remote span named by `traceparent` in NATS headers, as an Effect span (a parent or a link). */
export const externalSpanFrom = (headers: MsgHdrs | undefined): Tracer.ExternalSpan | undefined => {
  const sc = headers ? trace.getSpanContext(extractContext(headers)) : undefined
  return sc ? OtelTracer.makeExternalSpan({ traceId: sc.traceId, spanId: sc.spanId, traceFlags: sc.traceFlags }) : undefined
}

/** The current span as a W3C `traceparent` value (for a worker's environment), if any. */
export const currentTraceparent = Effect.suspend(() => traceHeaders()).pipe(Effect.map((h) => h.get("traceparent") || undefined))
