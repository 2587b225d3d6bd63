// The scaler's metrics as Prometheus renders them: names, # HELP / # TYPE, labels, histogram buckets
// (cumulative, `le` then `+Inf`, `_sum`, `_count`). Each test uses a fresh metric registry.
import { Effect, Metric } from "effect"
import { PrometheusMetrics } from "effect/observability"
import { describe, expect, it } from "vitest"
import { makeJobReportBatcher, parseJobReport, type JobOutcome, type WorkerDeadLetterReason } from "../../src/telemetry/job-report.ts"
import * as Metrics from "../../src/telemetry/metrics.ts"

const render = (program: Effect.Effect<unknown>) =>
  Effect.runPromise(program.pipe(Effect.andThen(PrometheusMetrics.format()), Effect.provideService(Metric.MetricRegistry, new Map())))

describe("metrics", () => {
  it("queue gauges and replica states", async () => {
    const text = await render(Effect.gen(function*() {
      yield* Metrics.recordQueue("demo", { pending: 10, ackPending: 4, desired: 3, running: 2, draining: 0, suspended: 0 })
      yield* Metrics.recordQueue("demo", { pending: 6, ackPending: 4, desired: 3, running: 3, draining: 0, suspended: 0 })
      // An unreadable backlog leaves the backlog gauges alone.
      yield* Metrics.recordQueue("demo", { pending: null, ackPending: null, desired: 2, running: 3, draining: 1, suspended: 0 })
    }))
    expect(text).toBe([
      "# HELP jetscale_queue_backlog Messages waiting or in flight in the queue's consumer (num_pending + num_ack_pending)",
      "# TYPE jetscale_queue_backlog gauge",
      `jetscale_queue_backlog{queue="demo"} 10`,
      "# HELP jetscale_queue_ack_pending Messages delivered to a worker and not yet acknowledged (num_ack_pending)",
      "# TYPE jetscale_queue_ack_pending gauge",
      `jetscale_queue_ack_pending{queue="demo"} 4`,
      "# HELP jetscale_replicas Worker replicas of the queue: state=desired (the decision), running, draining (scale-in, finishing their jobs), or suspended (idle: suspend, frozen or being frozen)",
      "# TYPE jetscale_replicas gauge",
      `jetscale_replicas{queue="demo",state="desired"} 2`,
      `jetscale_replicas{queue="demo",state="running"} 3`,
      `jetscale_replicas{queue="demo",state="draining"} 1`,
      `jetscale_replicas{queue="demo",state="suspended"} 0`,
      ""
    ].join("\n"))
  })

  it("counters start at zero per queue and count by label", async () => {
    const text = await render(Effect.gen(function*() {
      yield* Metrics.registerQueue("demo")
      yield* Metrics.recordScaleEvent("demo", "up")
      yield* Metrics.recordScaleEvent("demo", "up")
      yield* Metrics.registerQueue("demo") // idempotent
      yield* Metrics.recordDeadLetter("demo", "max_deliveries")
      yield* Metrics.recordDeadLetter("demo", "invalid_payload")
      yield* Metrics.recordDeadLetter("demo", "max_deliveries")
      yield* Metrics.recordWorkerCrash("other")
      yield* Metrics.recordReconcileError("demo")
    }))
    expect(text.split("\n").filter((l) => !l.startsWith("# HELP"))).toEqual([
      "# TYPE jetscale_scale_events_total counter",
      `jetscale_scale_events_total{queue="demo",direction="up"} 2`,
      `jetscale_scale_events_total{queue="demo",direction="down"} 0`,
      "# TYPE jetscale_worker_crashes_total counter",
      `jetscale_worker_crashes_total{queue="demo"} 0`,
      `jetscale_worker_crashes_total{queue="other"} 1`,
      "# TYPE jetscale_reconcile_errors_total counter",
      `jetscale_reconcile_errors_total{queue="demo"} 1`,
      "# TYPE jetscale_dlq_messages_total counter",
      `jetscale_dlq_messages_total{queue="demo",reason="max_deliveries"} 2`,
      `jetscale_dlq_messages_total{queue="demo",reason="invalid_payload"} 1`,
      ""
    ])
  })

  it("cold starts and jobs as histograms in seconds", async () => {
    const text = await render(Effect.gen(function*() {
      yield* Metrics.recordColdStart("demo", 0.2)
      yield* Metrics.recordColdStart("demo", 3)
      yield* Metrics.recordColdStart("demo", 45)
      yield* Metrics.recordJobs("demo", { outcome: "succeeded", count: 1, seconds: 0.03, le: 0.05 })
      yield* Metrics.recordJobs("demo", { outcome: "failed", count: 1, seconds: 1.5, le: 2.5 })
    }))
    const lines = text.split("\n")
    expect(lines.filter((l) => l.includes("jetscale_cold_start_seconds"))).toEqual([
      "# HELP jetscale_cold_start_seconds Time from the first message at zero replicas to its acknowledgement, in seconds",
      "# TYPE jetscale_cold_start_seconds histogram",
      `jetscale_cold_start_seconds_bucket{queue="demo",le="0.05"} 0`,
      `jetscale_cold_start_seconds_bucket{queue="demo",le="0.1"} 0`,
      `jetscale_cold_start_seconds_bucket{queue="demo",le="0.25"} 1`,
      `jetscale_cold_start_seconds_bucket{queue="demo",le="0.5"} 1`,
      `jetscale_cold_start_seconds_bucket{queue="demo",le="1"} 1`,
      `jetscale_cold_start_seconds_bucket{queue="demo",le="2.5"} 1`,
      `jetscale_cold_start_seconds_bucket{queue="demo",le="5"} 2`,
      `jetscale_cold_start_seconds_bucket{queue="demo",le="10"} 2`,
      `jetscale_cold_start_seconds_bucket{queue="demo",le="30"} 2`,
      `jetscale_cold_start_seconds_bucket{queue="demo",le="+Inf"} 3`,
      `jetscale_cold_start_seconds_sum{queue="demo"} 48.2`,
      `jetscale_cold_start_seconds_count{queue="demo"} 3`
    ])
    expect(lines).toEqual(expect.arrayContaining([
      "# TYPE jetscale_jobs_total counter",
      `jetscale_jobs_total{queue="demo",outcome="succeeded"} 1`,
      `jetscale_jobs_total{queue="demo",outcome="failed"} 1`,
      "# TYPE jetscale_job_duration_seconds histogram",
      `jetscale_job_duration_seconds_bucket{queue="demo",le="0.025"} 0`,
      `jetscale_job_duration_seconds_bucket{queue="demo",le="0.05"} 1`,
      `jetscale_job_duration_seconds_bucket{queue="demo",le="2.5"} 2`,
      `jetscale_job_duration_seconds_sum{queue="demo"} 1.53`,
      `jetscale_job_duration_seconds_count{queue="demo"} 2`
    ]))
  })

  it("batched job reports add up to the same counters, buckets and sums as one report per job", async () => {
    // 1,000 jobs of every outcome and run times across the buckets (and past the last one).
    const jobs = Array.from({ length: 1000 }, (_, i): [JobOutcome, number, WorkerDeadLetterReason | undefined] => {
      const outcome: JobOutcome = i % 7 === 0 ? "failed" : i % 11 === 0 ? "dead_lettered" : "succeeded"
      return [outcome, (i % 50) * 0.0137 + (i === 999 ? 900 : 0), outcome === "dead_lettered" ? (i % 2 ? "rejected" : "invalid_payload") : undefined]
    })
    const recordAll = (reports: ReadonlyArray<string>) => Effect.gen(function*() {
      for (const body of reports) {
        const entries = parseJobReport(body)
        if (typeof entries === "string") throw new Error(entries)
        for (const entry of entries) yield* Metrics.recordJobs("demo", entry)
      }
    })
    const perJob = jobs.map(([outcome, seconds, reason]) => JSON.stringify({ outcome, seconds, ...(reason ? { reason } : {}) }))
    const batcher = makeJobReportBatcher()
    const batched: Array<string> = []
    jobs.forEach(([outcome, seconds, reason], i) => {
      batcher.add(outcome, seconds, reason)
      if (i % 300 === 299) batched.push(batcher.take()!)
    })
    batched.push(batcher.take()!)
    expect(batcher.take()).toBeUndefined()
    expect(batched.length).toBe(4)
    // Sums are floats added in another order: compare them rounded.
    const rounded = (text: string) => text.replace(/_sum\{([^}]*)\} ([0-9.e+-]+)/g, (_, l, v) => `_sum{${l}} ${Number(v).toFixed(6)}`)
    const one = rounded(await render(recordAll(perJob)))
    expect(one).toContain(`jetscale_jobs_total{queue="demo",outcome="succeeded"} ${jobs.filter(([o]) => o === "succeeded").length}`)
    expect(one).toContain(`jetscale_job_duration_seconds_bucket{queue="demo",le="+Inf"} 1000`)
    expect(rounded(await render(recordAll(batched)))).toBe(one)
  })

  it("job reports: bad ones are named, not recorded", () => {
    expect(parseJobReport("nope")).toBe("not JSON")
    expect(parseJobReport(JSON.stringify({ outcome: "won", seconds: 1 }))).toMatch(/expected \{outcome, seconds\}/)
    expect(parseJobReport(JSON.stringify({ jobs: [{ outcome: "succeeded", count: 1, seconds: 0.001, le: 0.005 }, { outcome: "succeeded", count: -2, seconds: 1, le: null }] }))).toMatch(/^jobs\[1\]: /)
    expect(parseJobReport(JSON.stringify({ jobs: [{ outcome: "succeeded", count: 1, seconds: 0.001, le: 0.007 }] }))).toMatch(/^jobs\[0\]: /)
  })
})
