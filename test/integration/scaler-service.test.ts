// The Scaler service in-process (real nats-server, process driver): status, readiness, and a
// manual override that pins replicas and then releases them to the policy.
import { Duration, Effect, Exit, Layer, ManagedRuntime } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { decodeConfig } from "../../src/config/load.ts"
import * as NatsLayer from "../../src/nats/connection.ts"
import * as ProcessDriver from "../../src/runtime/process.ts"
import { Scaler } from "../../src/scaler/scaler.ts"
import * as ScalerLayer from "../../src/scaler/scaler.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { uniqueName } from "../support/queue.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const queue = uniqueName("svc")
let runtime: ManagedRuntime.ManagedRuntime<Scaler, unknown>

beforeAll(async () => {
  const config = await Effect.runPromise(decodeConfig({
    nats: { url: nats.server.url },
    runtime: { driver: "process" },
    scaler: { interval: "250ms" },
    queues: { [queue]: { command: ["node", "services/workers/demo/dist/main.js"], maxReplicas: 3, idleTimeout: "1s", scaleDownDelay: "500ms", stopTimeout: "3s" } }
  }, {}))
  runtime = ManagedRuntime.make(ScalerLayer.layer(config).pipe(
    Layer.provide(Layer.merge(NatsLayer.layer(config.nats), ProcessDriver.layer({ graceMs: 3000 })))
  ))
  await runtime.runPromise(Effect.void)
})
afterAll(async () => {
  await runtime?.dispose()
})

const run = <A, E>(f: (s: Scaler["Service"]) => Effect.Effect<A, E>) => runtime.runPromise(Scaler.use(f))
const statusOf = async () => (await run((s) => s.status)).find((q) => q.name === queue)!

describe("Scaler service", () => {
  it("reports readiness and each queue's status", async () => {
    expect(await run((s) => s.ready)).toEqual({ nats: true, runtime: true, failingQueues: {} })
    const s = await waitFor("a first reconcile", async () => {
      const st = await statusOf()
      return st.pending !== null && st
    })
    expect(s).toMatchObject({ name: queue, consumer: "workers", pending: 0, ackPending: 0, desired: 0, running: 0, override: null })
  })

  it("an override pins replicas on an empty queue, then the policy takes it back to zero", async () => {
    const o = await run((s) => s.setOverride(queue, 2, Duration.seconds(2)))
    expect(o.replicas).toBe(2)
    const pinned = await waitFor("2 replicas pinned", async () => {
      const st = await statusOf()
      return st.running === 2 && st
    }, 10_000)
    expect(pinned).toMatchObject({ desired: 2, override: { replicas: 2, until: o.until }, lastDecision: { kind: "override" } })
    await waitFor("the override to end and the queue to idle to zero", async () => {
      const st = await statusOf()
      return st.override === null && st.desired === 0 && st.running === 0
    }, 15_000)
  })

  it("clearOverride ends an override early; bad requests name the field", async () => {
    await run((s) => s.setOverride(queue, 1, Duration.minutes(10)))
    await waitFor("1 replica", async () => (await statusOf()).running === 1, 10_000)
    expect(await run((s) => s.clearOverride(queue))).toBe(true)
    expect(await run((s) => s.clearOverride(queue))).toBe(false)
    const tooMany = await runtime.runPromiseExit(Scaler.use((s) => s.setOverride(queue, 9, Duration.minutes(1))))
    expect(Exit.isFailure(tooMany) && JSON.stringify(tooMany.cause)).toContain(`replicas: expected an integer from 0 to 3 (maxReplicas of queue ${queue}), got 9`)
    const unknown = await runtime.runPromiseExit(Scaler.use((s) => s.setOverride("nope", 1, Duration.minutes(1))))
    expect(Exit.isFailure(unknown) && JSON.stringify(unknown.cause)).toContain("unknown-queue")
  })
})
