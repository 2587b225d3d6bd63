// Jobs published straight to a work subject with a `Jetscale-Not-Before` time ahead, against a real
// nats-server: the worker copies each (data and headers) once to jetscale.delayed.<queue> and acks
// it, never running it; a due time, a past one or a bad value runs now (the bad value logged); a
// copy that can't be stored is NAKed and tried again.
import { jetstream, RetentionPolicy } from "@nats-io/jetstream"
import { headers } from "@nats-io/transport-node"
import { afterAll, describe, expect, it } from "vitest"
import type { QueueConfig } from "../../src/config/model.ts"
import { delayedStream, delayedSubject, delayedSubjects, notBeforeHeader } from "../../src/jetstream/names.ts"
import { startWorker, type RunningWorker } from "../../src/worker/index.ts"
import { notBefore } from "../../src/worker/not-before.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { queueOps } from "../support/queue-ops.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const { setup, consumer, streamMessages } = queueOps(nats, "dm")
const cleanup: Array<() => Promise<unknown>> = []
afterAll(() => Promise.all(cleanup.map((f) => f())))

const publishAt = (q: QueueConfig, id: string, notBeforeValue: string, extra: Record<string, string> = {}) => {
  const h = headers()
  h.set(notBeforeHeader, notBeforeValue)
  for (const [k, v] of Object.entries(extra)) h.set(k, v)
  return jetstream(nats.nc).publish(q.subjects[0]!, JSON.stringify({ id }), { headers: h })
}

const worker = async (q: QueueConfig, runs: Array<string>, lines: Array<string>) => {
  const w: RunningWorker = await startWorker<{ id: string }>({
    concurrency: 2, handler: (p) => void runs.push(p.id), log: (l) => void lines.push(l),
    settings: { natsUrl: nats.server.url, queue: q.name, instance: `dm-${q.name}`, stopTimeoutMs: 2000 }
  })
  cleanup.push(() => w.stop())
  return w
}

const delayedOf = async (q: QueueConfig) => {
  const info = await nats.jsm.streams.info(delayedStream, { subjects_filter: delayedSubject(q.name) }).catch(() => undefined)
  return info?.state.subjects?.[delayedSubject(q.name)] ?? 0
}

describe("the Jetscale-Not-Before header", () => {
  it("reads RFC 3339 and ms since the epoch; a second or less ahead, a past time or a bad value runs now", () => {
    const now = Date.parse("2026-12-01T10:00:00Z")
    expect(notBefore("2026-12-01T10:05:00Z", now)).toEqual({ _tag: "later", atMs: now + 300_000 })
    expect(notBefore("2026-12-01T11:05:00.5+01:00", now)).toEqual({ _tag: "later", atMs: now + 300_500 })
    expect(notBefore(String(now + 5000), now)).toEqual({ _tag: "later", atMs: now + 5000 })
    expect(notBefore(String(now + 1000), now)).toEqual({ _tag: "now" })
    expect(notBefore("2026-12-01T09:00:00Z", now)).toEqual({ _tag: "now" })
    expect(notBefore(undefined, now)).toEqual({ _tag: "now" })
    expect(notBefore("tomorrow", now)).toMatchObject({ _tag: "invalid" })
    expect(notBefore("2026-12-01", now)).toMatchObject({ _tag: "invalid" })
    expect(notBefore("-5", now)).toMatchObject({ _tag: "invalid" })
    expect(notBefore("2028-01-01T00:00:00Z", now)).toEqual({ _tag: "invalid", reason: "more than 366 days ahead" })
  })

  it("a job not due: NAKed while the delayed stream is missing, then copied once to jetscale.delayed.<queue> and acked, never run", async () => {
    const q = await setup()
    const runs: Array<string> = []
    const lines: Array<string> = []
    const w = await worker(q, runs, lines)
    const at = new Date(Date.now() + 60_000).toISOString()
    await publishAt(q, "later", at, { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "Nats-Msg-Id": "orig-1" })
    await waitFor("a failed move", () => lines.some((l) => l.startsWith(`job 1: not moved to ${delayedSubject(q.name)}, retry in 1000ms`)), 5000)
    await nats.jsm.streams.add({ name: delayedStream, subjects: [delayedSubjects], retention: RetentionPolicy.Workqueue })
    cleanup.push(() => nats.jsm.streams.delete(delayedStream))
    await waitFor("the job moved", async () => (await streamMessages(q)) === 0 && (await delayedOf(q)) === 1, 10_000)
    const copy = await nats.jsm.streams.getMessage(delayedStream, { last_by_subj: delayedSubject(q.name) })
    expect(copy!.json()).toEqual({ id: "later" })
    expect(copy!.header.get(notBeforeHeader)).toBe(at)
    expect(copy!.header.get("traceparent")).toBe("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    expect(copy!.header.get("Nats-Msg-Id")).toBe(`jetscale-moved-${q.stream}-1`)
    expect(runs).toEqual([])
    expect(w.stats()).toMatchObject({ delayed: 1, acked: 0, naked: 0, inFlight: 0 })
    expect(await consumer(q)).toMatchObject({ num_pending: 0, num_ack_pending: 0 })
    // The copy's id is fixed by the original: a second copy (as after a lost ack) is dropped as a duplicate.
    const again = await jetstream(nats.nc).publish(delayedSubject(q.name), copy!.data, { msgID: `jetscale-moved-${q.stream}-1` })
    expect(again.duplicate).toBe(true)
    expect(await delayedOf(q)).toBe(1)
  })

  it("a past or due time runs now; a bad value or one over 366 days ahead runs now and is logged with the header", async () => {
    const q = await setup()
    const runs: Array<string> = []
    const lines: Array<string> = []
    await worker(q, runs, lines)
    await publishAt(q, "past", String(Date.now() - 60_000))
    await publishAt(q, "due", new Date(Date.now() + 500).toISOString())
    await publishAt(q, "bad", "next tuesday")
    await publishAt(q, "far", "2999-01-01T00:00:00Z")
    await waitFor("every job run", async () => runs.length === 4 && (await streamMessages(q)) === 0, 5000)
    expect(runs.sort()).toEqual(["bad", "due", "far", "past"])
    expect(lines).toContain(`job 3: header ${notBeforeHeader} "next tuesday" ignored (expected an RFC 3339 time or ms since the epoch): running it now`)
    expect(lines).toContain(`job 4: header ${notBeforeHeader} "2999-01-01T00:00:00Z" ignored (more than 366 days ahead): running it now`)
  })
})
