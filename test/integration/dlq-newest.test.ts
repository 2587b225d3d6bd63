// The newest dead letters of a queue without reading the whole DLQ (real nats-server): the binary
// search on an ordered consumer's pending count must give exactly what a full read gives, with
// queues interleaved and entries deleted in between; the per-queue counts come from one request.
import { jetstream } from "@nats-io/jetstream"
import { Effect } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { deadLetterHeaders } from "../../src/dlq/message.ts"
import { countDeadLetters, newestDeadLetters, newestSeqs } from "../../src/dlq/newest.ts"
import { provisionDeadLettering } from "../../src/dlq/provision.ts"
import { listDeadLetters } from "../../src/dlq/read.ts"
import { dlqStream, dlqSubject } from "../../src/jetstream/names.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { uniqueName } from "../support/queue.ts"

const nats = useNatsServer()
const [a, b, c] = [uniqueName("na"), uniqueName("nb"), uniqueName("nc")]

const put = async (queue: string, i: number) => {
  const headers = deadLetterHeaders(undefined, {
    queue, stream: "JETSCALE_X", subject: `jobs.${queue}`, streamSeq: i, deliveries: 1, reason: "rejected", error: `e${i}`, failedAt: new Date()
  })
  return (await jetstream(nats.nc).publish(dlqSubject(queue), `{"i":${i}}`, { headers })).seq
}

describe("newest dead letters", () => {
  beforeAll(async () => {
    expect(await countDeadLetters(nats.jsm)).toEqual({ perQueue: new Map(), stamp: "no stream" })
    expect(await newestDeadLetters(nats.jsm, a, 5)).toEqual([])
    await Effect.runPromise(provisionDeadLettering(nats.jsm, []))
    // a: every third entry, b: the rest, c: a run at the start only.
    for (let i = 0; i < 10; i++) await put(c, i)
    for (let i = 0; i < 90; i++) await put(i % 3 === 0 ? a : b, i)
    // Holes: some of a's entries deleted.
    const ofA = (await listDeadLetters(nats.jsm, a)).map((e) => e.dlqSeq)
    for (const seq of [ofA[5]!, ofA[20]!, ofA.at(-2)!]) await nats.jsm.streams.deleteMessage(dlqStream, seq)
  })

  it("counts every queue's dead letters in one go", async () => {
    const counts = await countDeadLetters(nats.jsm)
    expect(Object.fromEntries(counts.perQueue)).toEqual({ [a]: 27, [b]: 60, [c]: 10 })
    expect(counts.stamp).toMatch(/^1:100:97$/)
    expect(Object.fromEntries(await newestSeqs(nats.jsm))).toEqual({
      [a]: (await listDeadLetters(nats.jsm, a)).at(-1)!.dlqSeq, [b]: 100, [c]: 10
    })
  })

  it.each([1, 2, 5, 26, 27, 28, 100])("the newest %i of a queue are those of a full read, newest first", async (limit) => {
    for (const queue of [a, b, c]) {
      const full = (await listDeadLetters(nats.jsm, queue)).map((e) => e.dlqSeq).reverse().slice(0, limit)
      const newest = await newestDeadLetters(nats.jsm, queue, limit)
      expect({ queue, limit, seqs: newest.map((e) => e.dlqSeq) }).toEqual({ queue, limit, seqs: full })
      expect(newest.every((e) => e.queue === queue && e.data.length === 0)).toBe(true)
    }
  })

  it("a queue without dead letters has none; it leaves no consumer behind", async () => {
    expect(await newestDeadLetters(nats.jsm, "nothing-here", 5)).toEqual([])
    const consumers = []
    for await (const ci of nats.jsm.consumers.list(dlqStream)) consumers.push(ci.name)
    expect(consumers).toEqual([])
  })
})
