// Dead letters are data, not instructions (real nats-server): a replay publishes only to a subject
// the queue's config captures and only into the queue's stream, refusing the rest (they stay in the
// DLQ); a dead letter's queue is its DLQ subject, not its forgeable `Jetscale-Queue` header; and
// listing reads the DLQ in batches through one ordered consumer, not one request per sequence.
import { jetstream } from "@nats-io/jetstream"
import { Effect } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import type { QueueConfig } from "../../src/config/model.ts"
import { deadLetterHeaders } from "../../src/dlq/message.ts"
import { provisionDeadLettering } from "../../src/dlq/provision.ts"
import { getDeadLetter, listDeadLetters, type DeadLetterEntry } from "../../src/dlq/read.ts"
import { replayHeaders, replayOne, replayRefusal, ReplayRefused, selectSeqs } from "../../src/dlq/replay.ts"
import { dlqStream, dlqSubject } from "../../src/jetstream/names.ts"
import { provisionQueue } from "../../src/jetstream/provision.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { testQueue } from "../support/queue.ts"
import { runCli, writeConfig } from "../support/scaler-process.ts"

const nats = useNatsServer()
const js = () => jetstream(nats.nc)

/** Stores a dead letter on `jetscale.dlq.<dlqQueue>`, as whoever can publish there could. */
const putDeadLetter = async (dlqQueue: string, subject: string, body: string, headerQueue = dlqQueue) => {
  const headers = deadLetterHeaders(undefined, {
    queue: headerQueue, stream: "JETSCALE_X", subject, streamSeq: 1, deliveries: 1, reason: "rejected", error: "boom", failedAt: new Date()
  })
  return (await js().publish(dlqSubject(dlqQueue), body, { headers })).seq
}

/** A provisioned queue; `subjects` from its name, default `jobs.<name>`. */
const setupQueue = async (subjects?: (name: string) => Array<string>) => {
  const base = testQueue("data")
  const q = subjects ? { ...base, subjects: subjects(base.name) } : base
  await Effect.runPromise(provisionQueue(nats.jsm, q))
  return q
}

/** A config file with this server and the queue (process driver: no image needed). */
const configFor = (q: QueueConfig) => writeConfig([
  `nats: { url: "${nats.server.url}" }`,
  "runtime: { driver: process }",
  "queues:",
  `  ${q.name}:`,
  "    command: [node, worker.js]",
  `    subjects: [${q.subjects.map((s) => JSON.stringify(s)).join(", ")}]`,
  ""
].join("\n"))

const workMessages = async (q: QueueConfig) => (await nats.jsm.streams.info(q.stream)).state.messages

/** Counts core messages on `subject` until `stop` is called. */
const countOn = (subject: string) => {
  let n = 0
  const sub = nats.nc.subscribe(subject, { callback: () => void n++ })
  return { count: () => n, stop: () => sub.unsubscribe() }
}

beforeAll(async () => {
  await Effect.runPromise(provisionDeadLettering(nats.jsm, []))
})

describe("dlq replay: only to the queue's own subjects", () => {
  it("refuses a dead letter whose subject the queue does not capture; it stays, the others are replayed, exit 1", async () => {
    const q = await setupQueue()
    const path = await configFor(q)
    const foreign = await putDeadLetter(q.name, "jobs.other", `{"n":1}`)
    const own = await putDeadLetter(q.name, q.subjects[0]!, `{"n":2}`)
    const other = countOn("jobs.other")

    const r = await runCli(["dlq", "replay", q.name, "--seq", String(foreign), "--seq", String(own), "--config", path])
    await nats.nc.flush()
    other.stop()
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`refused: dead letter ${foreign}: subject "jobs.other" is not one of queue ${q.name}'s subjects (${q.subjects[0]}); it stays in the DLQ`)
    expect(r.stderr).toContain("1 dead letter(s) refused")
    expect(r.stdout).toContain(`replayed dead letter ${own} to ${q.subjects[0]}`)
    expect(r.stdout).toContain("1 dead letter(s) replayed")
    expect(other.count()).toBe(0)
    expect(await getDeadLetter(nats.jsm, foreign)).toMatchObject({ subject: "jobs.other", queue: q.name })
    expect(await getDeadLetter(nats.jsm, own)).toBeUndefined()
    expect(await workMessages(q)).toBe(1)
    const replayed = await nats.jsm.streams.getMessage(q.stream, { seq: 1 })
    expect(new TextDecoder().decode(replayed!.data)).toBe(`{"n":2}`)
  })

  it("--all: the same, a batch at a time; a wildcard subject of the queue captures, a dead letter of another queue is untouched", async () => {
    const wq = await setupQueue((name) => [`jobs.${name}.*`])
    const q = wq
    const path = await configFor(wq)
    const seqs = {
      ok1: await putDeadLetter(q.name, `jobs.${q.name}.a`, "1"),
      deeper: await putDeadLetter(q.name, `jobs.${q.name}.a.b`, "2"),
      wildcard: await putDeadLetter(q.name, `jobs.${q.name}.*`, "3"),
      ok2: await putDeadLetter(q.name, `jobs.${q.name}.b`, "4"),
      elsewhere: await putDeadLetter(`${q.name}-x`, `jobs.${q.name}.c`, "5")
    }
    const r = await runCli(["dlq", "replay", q.name, "--all", "--config", path])
    expect(r.code).toBe(1)
    expect(r.stdout).toContain("2 dead letter(s) replayed")
    expect(r.stderr).toContain(`dead letter ${seqs.deeper}: subject "jobs.${q.name}.a.b" is not one of queue ${q.name}'s subjects (jobs.${q.name}.*)`)
    expect(r.stderr).toContain(`dead letter ${seqs.wildcard}: subject "jobs.${q.name}.*" is not one of`)
    expect(r.stderr).toContain("2 dead letter(s) refused")
    const left = (await listDeadLetters(nats.jsm)).map((e) => e.dlqSeq)
    expect(left).toEqual(expect.arrayContaining([seqs.deeper, seqs.wildcard, seqs.elsewhere]))
    expect(left).not.toContain(seqs.ok1)
    expect(left).not.toContain(seqs.ok2)
    expect(await workMessages(wq)).toBe(2)
  })

  it("refuses a sequence on another queue's DLQ subject, and a queue that is not in the config", async () => {
    const q = await setupQueue()
    const path = await configFor(q)
    const theirs = await putDeadLetter(`${q.name}-y`, q.subjects[0]!, "x")
    const r = await runCli(["dlq", "replay", q.name, "--seq", String(theirs), "--config", path])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`no dead letter of queue ${q.name} with DLQ sequence ${theirs} (it is on ${dlqSubject(`${q.name}-y`)}, not ${dlqSubject(q.name)})`)
    expect(await getDeadLetter(nats.jsm, theirs)).toBeDefined()
    expect(await workMessages(q)).toBe(0)

    const unknown = await runCli(["dlq", "replay", `${q.name}-y`, "--all", "--config", path])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr.trim()).toBe(`jetscale: queue ${q.name}-y is not in ${path}: a replay publishes only to a configured queue's subjects`)
    expect(await getDeadLetter(nats.jsm, theirs)).toBeDefined()
  })

  it("the server refuses a replay that would land in another stream (a config out of step with the server)", async () => {
    const q = await setupQueue()
    const owner = await setupQueue()
    // The config claims owner's subject for q, but on the server it is owner's stream that captures it.
    const stale = { ...q, subjects: owner.subjects }
    const seq = await putDeadLetter(q.name, owner.subjects[0]!, "x")
    const e = (await getDeadLetter(nats.jsm, seq))!
    expect(replayRefusal(stale, e)).toBeUndefined()
    await expect(replayOne(js(), nats.jsm, stale, e, replayHeaders(e))).rejects.toBeInstanceOf(ReplayRefused)
    expect(await getDeadLetter(nats.jsm, seq)).toBeDefined()
    expect(await workMessages(owner)).toBe(0)
  })
})

describe("replayRefusal", () => {
  const q = testQueue("rules", { name: "rules", subjects: ["jobs.rules", "jobs.rules.*.x", "jobs.more.>"] })
  const entry = (over: Partial<DeadLetterEntry>): DeadLetterEntry => ({
    dlqSeq: 7, dlqSubject: "jetscale.dlq.rules", queue: "rules", subject: "jobs.rules", streamSeq: 1, deliveries: 1,
    reason: "rejected", error: "", failedAt: "", headers: {}, data: new Uint8Array(), ...over
  })
  it.each([
    ["jobs.rules", true], ["jobs.rules.a.x", true], ["jobs.more.a", true], ["jobs.more.a.b.c", true],
    ["jobs.other", false], ["jobs.rules.a", false], ["jobs.rules.a.y", false], ["jobs.more", false],
    ["jobs.>", false], ["jobs.rules.*.x", false], ["jobs..rules", false], ["jobs rules", false], ["", false]
  ])("subject %j: replayed %s", (subject, ok) => {
    expect(replayRefusal(q, entry({ subject })) === undefined).toBe(ok)
  })
  it("names the subject and the queue's subjects; a missing subject and another DLQ subject are refused too", () => {
    expect(replayRefusal(q, entry({ subject: "jobs.other" })))
      .toBe(`dead letter 7: subject "jobs.other" is not one of queue rules's subjects (jobs.rules, jobs.rules.*.x, jobs.more.>)`)
    expect(replayRefusal(q, entry({ subject: "" }))).toBe("dead letter 7 has no Jetscale-Subject header: nowhere to replay it to")
    expect(replayRefusal(q, entry({ dlqSubject: "jetscale.dlq.other", queue: "other" })))
      .toBe("no dead letter of queue rules with DLQ sequence 7 (it is on jetscale.dlq.other, not jetscale.dlq.rules)")
  })
})

describe("dlq list: by DLQ subject, in batches", () => {
  it("a forged Jetscale-Queue header does not move a dead letter to another queue", async () => {
    const a = await setupQueue()
    const b = await setupQueue()
    const forged = await putDeadLetter(a.name, b.subjects[0]!, "x", b.name)
    expect((await listDeadLetters(nats.jsm, b.name)).map((e) => e.dlqSeq)).not.toContain(forged)
    const [listed] = await listDeadLetters(nats.jsm, a.name)
    expect(listed).toMatchObject({ dlqSeq: forged, queue: a.name, dlqSubject: dlqSubject(a.name) })
    expect(listed!.headers["Jetscale-Queue"]).toBe(b.name)

    const selected = await selectSeqs(nats.jsm, { queue: b.name, seqs: [forged], all: false })
    expect(selected.entries).toEqual([])
    expect(selected.refused[0]!.reason).toContain(`it is on ${dlqSubject(a.name)}`)

    const pathB = await configFor(b)
    const byCli = await runCli(["dlq", "list", b.name, "--json", "--config", pathB])
    expect(byCli.code).toBe(0)
    expect(JSON.parse(byCli.stdout)).toEqual({ deadLetters: [] })
    const replay = await runCli(["dlq", "replay", b.name, "--all", "--config", pathB])
    expect(replay.stdout).toContain("0 dead letter(s) replayed")
    const purge = await runCli(["dlq", "purge", b.name, "--all", "--config", pathB])
    expect(purge.stdout).toContain("purged 0 dead letter(s)")
    expect(await getDeadLetter(nats.jsm, forged)).toBeDefined()
    expect(await workMessages(b)).toBe(0)

    const byA = await runCli(["dlq", "list", a.name, "--json", "--config", pathB])
    const rows = JSON.parse(byA.stdout).deadLetters as Array<Record<string, unknown>>
    expect(rows).toHaveLength(1)
    expect(Object.keys(rows[0]!)).toEqual(["dlqSeq", "queue", "subject", "streamSeq", "deliveries", "reason", "error", "failedAt"])
    expect(rows[0]).toMatchObject({ dlqSeq: forged, queue: a.name, subject: b.subjects[0], reason: "rejected", error: "boom" })
  })

  it("several thousand dead letters: a few batched fetches, no per-sequence gets, no consumer left behind", async () => {
    const a = await setupQueue()
    const b = await setupQueue()
    const seqsOfA: Array<number> = []
    for (let chunk = 0; chunk < 10; chunk++) {
      const acks = await Promise.all(Array.from({ length: 450 }, (_, i) =>
        i % 3 === 2 ? putDeadLetter(b.name, b.subjects[0]!, `b${chunk}.${i}`).then(() => undefined) : putDeadLetter(a.name, a.subjects[0]!, `a${chunk}.${i}`)))
      seqsOfA.push(...acks.filter((s): s is number => s !== undefined))
    }
    expect(seqsOfA).toHaveLength(3000)
    const gets = countOn(`$JS.API.STREAM.MSG.GET.${dlqStream}`)
    const fetches = countOn(`$JS.API.CONSUMER.MSG.NEXT.${dlqStream}.>`)

    const started = performance.now()
    const listed = await listDeadLetters(nats.jsm, a.name)
    const elapsed = performance.now() - started
    await nats.nc.flush()
    gets.stop()
    fetches.stop()
    expect(listed.map((e) => e.dlqSeq)).toEqual(seqsOfA.toSorted((x, y) => x - y))
    expect(listed.every((e) => e.queue === a.name && e.data.length > 0)).toBe(true)
    expect(gets.count()).toBe(0)
    expect(fetches.count()).toBeLessThanOrEqual(Math.ceil(3000 / 256) + 1)
    expect(elapsed).toBeLessThan(5000)
    expect((await nats.jsm.streams.info(dlqStream)).state.consumer_count).toBe(0)

    const first = await listDeadLetters(nats.jsm, a.name, 100, { headersOnly: true })
    expect(first.map((e) => e.dlqSeq)).toEqual(listed.slice(0, 100).map((e) => e.dlqSeq))
    expect(first.every((e) => e.data.length === 0 && e.reason === "rejected" && e.subject === a.subjects[0])).toBe(true)
    expect(await listDeadLetters(nats.jsm, b.name, 10_000, { headersOnly: true })).toHaveLength(1500)

    const cli = await runCli(["dlq", "list", a.name, "--json", "--config", await configFor(a)])
    expect(JSON.parse(cli.stdout).deadLetters).toHaveLength(3000)
  })
})
