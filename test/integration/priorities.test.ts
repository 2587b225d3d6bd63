// Priorities within a queue, the scaler's side, against a real nats-server: one consumer per level
// filtered on jobs.<queue>.<level>, a switch to or from priorities in place (a consumer left over is
// removed once it holds no job), the backlog of every level counted (and the oldest waiting job of
// any level), each level's MAX_DELIVERIES advisories captured, the worker grants and environment,
// and the subject a job published by queue name (or released without a subject of its own) goes to.
import { jetstream } from "@nats-io/jetstream"
import { headers } from "@nats-io/transport-node"
import { Effect, Fiber } from "effect"
import { describe, expect, it } from "vitest"
import { toLevels } from "../../src/config/to-model.ts"
import { provisionDelayed } from "../../src/delay/provision.ts"
import { runDelayReleaser } from "../../src/delay/releaser.ts"
import { provisionDeadLettering } from "../../src/dlq/provision.ts"
import { readBacklog, readOldestWaitingAt } from "../../src/jetstream/backlog.ts"
import { defaultLevel, jobSubjectOf } from "../../src/jetstream/consumers.ts"
import { delayedSubject, notBeforeHeader } from "../../src/jetstream/names.ts"
import { provisionQueue } from "../../src/jetstream/provision.ts"
import { queueWorkerGrants } from "../../src/nats/accounts-conf.ts"
import { workerEnv } from "../../src/scaler/worker-env.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { testQueue, uniqueName } from "../support/queue.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()

const leveled = (levels: ReadonlyArray<string>, name = uniqueName("prio")) => {
  const l = toLevels(name, levels)
  return testQueue("prio", { name, levels: l, subjects: l.map((x) => x.subject) })
}

describe("priorities: the scaler's side", () => {
  it("provisions one consumer per level, filtered on its subject, and counts every level's backlog", async () => {
    const q = leveled(["high", "normal", "low"])
    expect(await Effect.runPromise(provisionQueue(nats.jsm, q))).toEqual({ stream: "created", consumer: "created" })
    const stream = await nats.jsm.streams.info(q.stream)
    expect(stream.config.subjects).toEqual([`jobs.${q.name}.high`, `jobs.${q.name}.normal`, `jobs.${q.name}.low`])
    for (const level of ["high", "normal", "low"]) {
      expect((await nats.jsm.consumers.info(q.stream, `workers-${level}`)).config.filter_subject).toBe(`jobs.${q.name}.${level}`)
    }
    expect(await Effect.runPromise(provisionQueue(nats.jsm, q))).toEqual({ stream: "unchanged", consumer: "unchanged" })

    const js = jetstream(nats.nc)
    const before = Date.now()
    await js.publish(`jobs.${q.name}.low`, "{}")
    for (let i = 0; i < 3; i++) await js.publish(`jobs.${q.name}.high`, "{}")
    const backlog = await Effect.runPromise(readBacklog(nats.jsm, q))
    expect(backlog).toMatchObject({
      pending: 4, ackPending: 0, total: 4, entered: 4,
      levels: [{ level: "high", pending: 3, ackPending: 0 }, { level: "normal", pending: 0, ackPending: 0 }, { level: "low", pending: 1, ackPending: 0 }]
    })
    // The oldest waiting job is the low one, published first.
    const oldest = await Effect.runPromise(readOldestWaitingAt(nats.jsm, q.stream, backlog))
    expect(oldest).toBeGreaterThanOrEqual(before - 1000)
    const low = await nats.jsm.streams.getMessage(q.stream, { seq: 1 })
    expect(oldest).toBe(low!.time.getTime())
  })

  it("switches a queue to priorities and back in place; a consumer left over that still holds jobs stops it with the way out", async () => {
    const plain = testQueue("prio-switch")
    await Effect.runPromise(provisionQueue(nats.jsm, plain))
    const js = jetstream(nats.nc)
    await js.publish(plain.subjects[0]!, "{}")
    const l = toLevels(plain.name, ["high", "low"])
    const withLevels = { ...plain, levels: l, subjects: [...plain.subjects, ...l.map((x) => x.subject)] }
    const refused = (await Effect.runPromise(Effect.flip(provisionQueue(nats.jsm, withLevels)))).message
    expect(refused).toContain(`consumer "workers" still has 1 job(s) but the queue's priorities no longer use it`)
    await (await js.consumers.get(plain.stream, "workers")).next().then((m) => m?.ack())
    await new Promise((r) => setTimeout(r, 200))
    const switched = { ...withLevels, subjects: l.map((x) => x.subject) }
    expect(await Effect.runPromise(provisionQueue(nats.jsm, switched))).toMatchObject({ consumer: "created" })
    const names: Array<string> = []
    for await (const c of nats.jsm.consumers.list(plain.stream)) names.push(c.name)
    expect(names.sort()).toEqual(["workers-high", "workers-low"])
    expect(await Effect.runPromise(provisionQueue(nats.jsm, plain))).toMatchObject({ consumer: "created" })
    const back: Array<string> = []
    for await (const c of nats.jsm.consumers.list(plain.stream)) back.push(c.name)
    expect(back).toEqual(["workers"])
  })

  it("captures every level's MAX_DELIVERIES advisories; grants, worker environment and job subjects follow the levels", async () => {
    const q = leveled(["high", "low"])
    await Effect.runPromise(provisionQueue(nats.jsm, q))
    await Effect.runPromise(provisionDeadLettering(nats.jsm, [q]))
    expect((await nats.jsm.streams.info("JETSCALE_ADVISORIES")).config.subjects).toEqual([
      `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${q.stream}.workers-high`,
      `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${q.stream}.workers-low`
    ])
    const grants = queueWorkerGrants(q)
    for (const c of ["workers-high", "workers-low"]) {
      expect(grants).toContain(`$JS.API.CONSUMER.MSG.NEXT.${q.stream}.${c}`)
      expect(grants).toContain(`$JS.ACK.${q.stream}.${c}.>`)
    }
    expect(grants.some((g) => g.includes(`${q.stream}.workers.`) || g.endsWith(`${q.stream}.workers`))).toBe(false)
    const env = workerEnv(q, "i1", { url: nats.server.url })
    expect([env.JETSCALE_CONSUMER, env.JETSCALE_CONSUMERS]).toEqual(["workers-high", "workers-high,workers-low"])
    expect(workerEnv(testQueue("plain"), "i2", { url: nats.server.url }).JETSCALE_CONSUMERS).toBeUndefined()

    expect(defaultLevel(leveled(["high", "normal", "low"]))).toBe("normal")
    expect(defaultLevel(q)).toBe("low")
    expect(jobSubjectOf(q, undefined)).toEqual({ subject: `jobs.${q.name}.low` })
    expect(jobSubjectOf(q, "high")).toEqual({ subject: `jobs.${q.name}.high` })
    expect(jobSubjectOf(q, "urgent")).toBe(`queue ${q.name} has no priority "urgent" (its levels: high, low)`)
    expect(jobSubjectOf(testQueue("plain"), "high")).toMatch(/has no priorities/)
  })

  it("a delayed job without a subject of its own enters a queue with priorities at the default level", async () => {
    const q = leveled(["high", "normal", "low"])
    await Effect.runPromise(provisionQueue(nats.jsm, q))
    await Effect.runPromise(provisionDelayed(nats.jsm, [q]))
    const h = headers()
    h.set(notBeforeHeader, String(Date.now() - 1000))
    await jetstream(nats.nc).publish(delayedSubject(q.name), "{}", { headers: h })
    const releaser = Effect.runFork(runDelayReleaser(jetstream(nats.nc), nats.jsm, [q]))
    try {
      const backlog = await waitFor("the job released", async () => {
        const b = await Effect.runPromise(readBacklog(nats.jsm, q))
        return b.total === 1 ? b : undefined
      }, 10_000)
      expect(backlog.levels?.find((l) => l.level === "normal")?.pending).toBe(1)
    } finally {
      await Effect.runPromise(Fiber.interrupt(releaser))
    }
  })
})
