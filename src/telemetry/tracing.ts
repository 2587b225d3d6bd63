// Tracing for Effect programs (the scaler, the CLI): Effect spans exported through the OpenTelemetry
// SDK when an OTLP endpoint is set, nothing otherwise.
import { OtelTracer } from "@effect/opentelemetry"
import * as NodeSdk from "@effect/opentelemetry/NodeSdk"
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node"
import { Effect, Layer } from "effect"
import { injectSpan, makeSpanProcessor, serviceName, tracingEnabled } from "./otel.ts"

/** The tracing layer for a program named `fallbackName` (OTEL_SERVICE_NAME wins). */
export const layer = (fallbackName: string) =>
  tracingEnabled()
    ? NodeSdk.layer(() => ({
      resource: { serviceName: serviceName(fallbackName), serviceVersion: "0.1.0" },
      spanProcessor: makeSpanProcessor(),
      shutdownTimeout: "3 seconds"
    }))
    : Layer.empty

/** NATS headers carrying the current Effect span's trace context (empty headers outside a traced span). */
export const traceHeaders = (base: MsgHdrs = natsHeaders()) =>
  OtelTracer.currentOtelSpan.pipe(
    Effect.map((span) => injectSpan(span, base)),
    Effect.orElseSucceed(() => base)
  )
