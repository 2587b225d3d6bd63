// Tracing in the worker SDK: one consumer span per job (and one linking a batch's jobs), continuing the trace of the message's
// `traceparent` header (a new root trace without one), following the OpenTelemetry messaging
// conventions. A no-op unless an OTLP endpoint is configured (the scaler passes OTEL_* through).
import type { JsMsg } from "@nats-io/jetstream"
import { headers as natsHeaders } from "@nats-io/transport-node"
import { SpanKind, SpanStatusCode, trace, type Span, type SpanOptions, type Tracer } from "@opentelemetry/api"
import { W3CTraceContextPropagator } from "@opentelemetry/core"
import { extractContext, makeSpanProcessor, serviceName, tracingEnabled } from "../telemetry/otel.ts"
import type { JobOutcome } from "./job.ts"
import type { WorkerSettings } from "./settings.ts"

export interface WorkerTracing {
  readonly tracer: Tracer
  /** Flushes what is buffered (bounded by the exporter's timeout). */
  readonly shutdown: () => Promise<void>
}

/** The SDK is loaded only when tracing is on, so a worker without it starts as fast as before. */
export const startWorkerTracing = async (settings: WorkerSettings): Promise<WorkerTracing> => {
  if (!tracingEnabled()) return { tracer: trace.getTracer("jetscale/worker"), shutdown: async () => {} }
  const [{ NodeTracerProvider }, { resourceFromAttributes }] = await Promise.all([import("@opentelemetry/sdk-trace-node"), import("@opentelemetry/resources")])
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": serviceName(`jetscale-worker-${settings.queue}`), "service.instance.id": settings.instance }),
    spanProcessors: [await makeSpanProcessor()]
  })
  provider.register({ propagator: new W3CTraceContextPropagator() })
  return { tracer: provider.getTracer("jetscale/worker"), shutdown: () => provider.shutdown().catch(() => {}) }
}

/** The message's trace context; malformed headers start a new trace rather than fail the job. */
const safeContext = (m: JsMsg) => {
  try {
    return extractContext(m.headers)
  } catch {
    return extractContext(undefined)
  }
}

const jobSpanOptions = (settings: WorkerSettings, m: JsMsg): SpanOptions => ({
  kind: SpanKind.CONSUMER,
  attributes: {
    "messaging.system": "nats",
    "messaging.operation.type": "process",
    "messaging.operation.name": "process",
    "messaging.destination.name": m.subject,
    "messaging.consumer.group.name": m.info.consumer || settings.consumer,
    "messaging.message.id": m.headers?.get("Nats-Msg-Id") || `${settings.stream}:${m.seq}`,
    "messaging.nats.message.delivery_count": m.info.deliveryCount,
    "jetscale.queue": settings.queue,
    "jetscale.stream": settings.stream,
    "jetscale.stream_seq": m.seq,
    "jetscale.instance": settings.instance
  }
})

const endJobSpan = (span: Span, outcome: JobOutcome | undefined) => {
  if (outcome !== undefined) {
    span.setAttribute("jetscale.outcome", outcome._tag)
    if (outcome._tag === "naked" || outcome._tag === "dead-lettered") {
      span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error })
      span.addEvent("exception", { "exception.message": outcome.error })
    }
  }
  span.end()
}

/** Runs `job` inside the job's consumer span and records its outcome on the span. */
export const traceJob = (tracer: Tracer, settings: WorkerSettings, m: JsMsg, job: () => Promise<JobOutcome>): Promise<JobOutcome> =>
  tracer.startActiveSpan(`${m.subject} process`, jobSpanOptions(settings, m), safeContext(m), async (span) => {
    let outcome: JobOutcome | undefined
    try {
      return outcome = await job()
    } finally {
      endJobSpan(span, outcome)
    }
  })

/**
 * A batch: each job keeps its own consumer span (in its message's trace), ended with its outcome;
 * the handler runs inside one batch span that links them all.
 */
export const traceBatch = (tracer: Tracer, settings: WorkerSettings, ms: ReadonlyArray<JsMsg>, batch: () => Promise<ReadonlyArray<JobOutcome>>): Promise<ReadonlyArray<JobOutcome>> => {
  const spans = ms.map((m) => tracer.startSpan(`${m.subject} process`, jobSpanOptions(settings, m), safeContext(m)))
  const subjects = new Set(ms.map((m) => m.subject))
  const groups = [...new Set(ms.map((m) => m.info.consumer || settings.consumer))]
  const destination = subjects.size === 1 ? ms[0]!.subject : settings.queue
  return tracer.startActiveSpan(`${destination} process`, {
    kind: SpanKind.CONSUMER,
    links: spans.map((span) => ({ context: span.spanContext() })),
    attributes: {
      "messaging.system": "nats",
      "messaging.operation.type": "process",
      "messaging.operation.name": "process",
      "messaging.destination.name": destination,
      "messaging.consumer.group.name": groups.join(","),
      "messaging.batch.message_count": ms.length,
      "jetscale.queue": settings.queue,
      "jetscale.stream": settings.stream,
      "jetscale.instance": settings.instance
    }
  }, async (span) => {
    let outcomes: ReadonlyArray<JobOutcome> = []
    try {
      return outcomes = await batch()
    } finally {
      spans.forEach((s, i) => endJobSpan(s, outcomes[i]))
      const failed = outcomes.filter((o) => o._tag === "naked" || o._tag === "dead-lettered").length
      span.setAttribute("jetscale.failed_jobs", failed)
      if (failed > 0) span.setStatus({ code: SpanStatusCode.ERROR, message: `${failed} of ${ms.length} jobs failed` })
      span.end()
    }
  })
}

/**
 * A worker started for a wake-up gets the scale decision's trace (JETSCALE_TRACEPARENT): its startup,
 * from process start to its first pull, shows in that trace as the cold start's middle part.
 */
export const recordStartup = (tracer: Tracer, settings: WorkerSettings, traceparent: string | undefined) => {
  if (!traceparent) return
  const carrier = natsHeaders()
  carrier.set("traceparent", traceparent)
  tracer.startSpan("worker startup", {
    startTime: performance.timeOrigin,
    attributes: { "jetscale.queue": settings.queue, "jetscale.instance": settings.instance }
  }, extractContext(carrier)).end()
}
