// Traces end to end, against a real OTLP/HTTP receiver: `jetscale enqueue` -> the job in a worker
// container (its span is the producer span's child, in the same trace); a message published with a
// caller's traceparent joins that trace; a plain publish starts a new root trace.
import { jetstream } from "@nats-io/jetstream"
import { headers as natsHeaders } from "@nats-io/transport-node"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { useNatsServer } from "../support/nats-fixture.ts"
import { startOtlpReceiver } from "../support/otlp-receiver.ts"
import { uniqueName } from "../support/queue.ts"
import { useScalers } from "../support/scaler-fixture.ts"
import { runCli, writeDockerConfig } from "../support/scaler-process.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const scalers = useScalers()
let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>
beforeAll(async () => {
  receiver = await startOtlpReceiver()
})
afterAll(async () => {
  await receiver?.close()
})

const PRODUCER = 4
const CONSUMER = 5

describe("tracing", () => {
  it("one trace per job: publish -> scale-up -> worker start -> job; caller traces joined; DLQ step and replay linked", async () => {
    const queue = uniqueName("trace")
    scalers.cleanUpQueue(queue)
    const path = await writeDockerConfig(nats.server.url, `  ${queue}: { image: jetscale/worker-demo:dev, maxReplicas: 1, idleTimeout: 1m, stopTimeout: 5s }
  ${queue}-dl: { image: jetscale/worker-demo:dev, maxReplicas: 1, maxDeliver: 1, idleTimeout: 1m, stopTimeout: 5s }
`)
    scalers.cleanUpQueue(`${queue}-dl`)
    const scaler = scalers.up(path, receiver.env())
    await scaler.waitForOutput("scaler up")
    const enq = await runCli(["enqueue", queue, `{"id":"traced","sleepMs":20}`, "--config", path], receiver.env())
    expect(enq.code).toBe(0)
    const subject = `jobs.${queue}`

    const producer = await waitFor("the producer span", () => receiver.spans.find((s) => s.name === `${subject} publish`), 15_000)
    expect(producer).toMatchObject({ kind: PRODUCER, service: "jetscale-cli", attributes: { "messaging.system": "nats", "messaging.destination.name": subject } })
    const job = await waitFor("the job span", () => receiver.spans.find((s) => s.name === `${subject} process` && s.traceId === producer.traceId), 30_000)
    expect(job).toMatchObject({
      kind: CONSUMER,
      parentSpanId: producer.spanId,
      service: `jetscale-worker-${queue}`,
      attributes: { "messaging.system": "nats", "messaging.destination.name": subject, "messaging.consumer.group.name": "workers", "messaging.nats.message.delivery_count": 1, "jetscale.outcome": "acked" }
    })

    // The cold start is in the same trace: publish -> scale decision -> worker start -> worker startup.
    const scale = await waitFor("the scale span", () => receiver.spans.find((s) => s.name === `scale ${queue}` && s.traceId === producer.traceId), 15_000)
    expect(scale).toMatchObject({ service: "jetscale-scaler", parentSpanId: producer.spanId, attributes: { "jetscale.kind": "wake", "jetscale.from": 0, "jetscale.to": 1 } })
    expect(scale.links).toContainEqual({ traceId: producer.traceId, spanId: producer.spanId })
    const start = await waitFor("the worker start span", () => receiver.spans.find((s) => s.name === "worker start" && s.parentSpanId === scale.spanId), 15_000)
    await waitFor("the worker startup span", () => receiver.spans.find((s) => s.name === "worker startup" && s.parentSpanId === start.spanId && s.traceId === producer.traceId), 15_000)

    // A caller's trace context (like `nats pub -H traceparent:...`), and none at all (plain `nats pub`).
    const js = jetstream(nats.nc)
    const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
    const h = natsHeaders()
    h.set("traceparent", `00-${callerTrace}-00f067aa0ba902b7-01`)
    await js.publish(subject, `{"id":"joined"}`, { headers: h })
    await js.publish(subject, `{"id":"plain"}`)
    const joined = await waitFor("the joined job span", () => receiver.spans.find((s) => s.name === `${subject} process` && s.traceId === callerTrace), 20_000)
    expect(joined.parentSpanId).toBe("00f067aa0ba902b7")
    await waitFor("a root job span", () => receiver.spans.some((s) => s.name === `${subject} process` && s.parentSpanId === "" && s.traceId !== callerTrace), 20_000)
  

    // The default encoding, http/protobuf, is what goes out when only the endpoint is set.
    const protoEnv: Record<string, string> = { ...receiver.env() }
    delete protoEnv.OTEL_EXPORTER_OTLP_PROTOCOL
    expect((await runCli(["enqueue", queue, `{"id":"proto"}`, "--config", path], protoEnv)).code).toBe(0)
    await waitFor("a protobuf export", () => [...receiver.contentTypes].some((t) => t.includes("application/x-protobuf")), 15_000)

    // A dead-lettered job: the DLQ step is in the job's trace; a replay starts a new trace linked to it.
    const dlSubject = `jobs.${queue}-dl`
    await runCli(["enqueue", `${queue}-dl`, `{"fail":"always"}`, "--config", path], receiver.env())
    const dlProducer = await waitFor("the failing job's producer span", () => receiver.spans.find((s) => s.name === `${dlSubject} publish`), 15_000)
    const dlStep = await waitFor("the dead-letter span", () => receiver.spans.find((s) => s.name === `dead-letter ${queue}-dl`), 30_000)
    expect(dlStep).toMatchObject({ traceId: dlProducer.traceId, parentSpanId: dlProducer.spanId, attributes: { "jetscale.reason": "max_deliveries" } })
    expect((await runCli(["dlq", "replay", `${queue}-dl`, "--all", "--config", path], receiver.env())).code).toBe(0)
    const replay = await waitFor("the replay span", () => receiver.spans.find((s) => s.name === `${dlSubject} publish` && s.traceId !== dlProducer.traceId), 15_000)
    expect(replay.links).toContainEqual({ traceId: dlProducer.traceId, spanId: dlProducer.spanId })
    await waitFor("the replayed job's span", () => receiver.spans.find((s) => s.name === `${dlSubject} process` && s.parentSpanId === replay.spanId), 30_000)
  })
})
