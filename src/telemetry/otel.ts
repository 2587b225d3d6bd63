// OpenTelemetry plumbing shared by the scaler, the CLI and the worker SDK: whether to export at all
// (only when an OTLP endpoint is set and OTEL_SDK_DISABLED is not true), the OTLP/HTTP exporter for
// OTEL_EXPORTER_OTLP_PROTOCOL (http/protobuf by default, http/json too), and W3C trace context in
// NATS message headers.
import { context, propagation, ROOT_CONTEXT, trace, type Context, type Span, type TextMapGetter, type TextMapSetter } from "@opentelemetry/api"
import { W3CTraceContextPropagator } from "@opentelemetry/core"
import type { SpanProcessor } from "@opentelemetry/sdk-trace-base"
import type { MsgHdrs } from "@nats-io/transport-node"
import { commonJs } from "../modules/common-js.ts"

type Env = Readonly<Record<string, string | undefined>>

/** Tracing is on when an OTLP endpoint is configured and the SDK is not disabled. */
export const tracingEnabled = (env: Env = process.env): boolean =>
  env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== "true" &&
  Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim())

/**
 * Batches and exports in the background: a slow or absent collector never holds up a job. The SDK
 * and the exporter for OTEL_EXPORTER_OTLP_PROTOCOL (they read the endpoint variables themselves) are
 * loaded only here, so a worker without tracing does not pay for them at start.
 */

export const makeSpanProcessor = async (env: Env = process.env): Promise<SpanProcessor> => {
  const protocol = (env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? "http/protobuf").trim()
  const { BatchSpanProcessor } = commonJs(await import("@opentelemetry/sdk-trace-base"))
  const exporter = protocol === "http/json"
    ? new (commonJs(await import("@opentelemetry/exporter-trace-otlp-http"))).OTLPTraceExporter()
    : new (commonJs(await import("@opentelemetry/exporter-trace-otlp-proto"))).OTLPTraceExporter()
  return new BatchSpanProcessor(exporter, { maxQueueSize: 4096, exportTimeoutMillis: 5000 })
}

export const serviceName = (fallback: string, env: Env = process.env) => env.OTEL_SERVICE_NAME?.trim() || fallback

const w3c = new W3CTraceContextPropagator()

const setter: TextMapSetter<MsgHdrs> = { set: (h, k, v) => h.set(k, v) }
const getter: TextMapGetter<MsgHdrs | undefined> = {
  keys: (h) => (h ? [...h.keys()] : []),
  get: (h, k) => h?.get(k) || undefined
}

/** Writes `traceparent`/`tracestate` of `span` into NATS headers. */
export const injectSpan = (span: Span, headers: MsgHdrs): MsgHdrs => {
  w3c.inject(trace.setSpan(ROOT_CONTEXT, span), headers, setter)
  return headers
}

/** The remote parent in NATS headers, or the root context when there is none (a new trace). */
export const extractContext = (headers: MsgHdrs | undefined): Context => w3c.extract(ROOT_CONTEXT, headers, getter)

/** Registers W3C propagation globally (used by the worker SDK's provider). */
export const registerPropagation = () => {
  propagation.setGlobalPropagator(w3c)
  return context
}
