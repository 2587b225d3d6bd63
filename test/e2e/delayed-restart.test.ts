// Delayed jobs as users send them and as the scaler releases them: the built CLI's `enqueue --delay`,
// `--at` and `pub --delay` / `-H Jetscale-Not-Before:` (the jobs wait in JETSCALE_DELAYED, never on the
// work subject, and enter the queue when due; bad values are refused naming the flag), then
// `jetscale up` SIGKILLed and started again around the due times of 50 jobs: every job enters its
// queue exactly once.
import { jetstream } from "@nats-io/jetstream"
import { headers as natsHeaders } from "@nats-io/transport-node"
import { Effect, Fiber } from "effect"
import { describe, expect, it } from "vitest"
import type { QueueConfig } from "../../src/config/model.ts"
import { delayedCounts } from "../../src/delay/counts.ts"
import { formatInstant } from "../../src/delay/not-before.ts"
import { provisionDelayed, releaseConsumer } from "../../src/delay/provision.ts"
import { runDelayReleaser } from "../../src/delay/releaser.ts"
import { delayedStream, delayedSubject, notBeforeHeader, streamName } from "../../src/jetstream/names.ts"
import { provisionQueue } from "../../src/jetstream/provision.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { testQueue, uniqueName } from "../support/queue.ts"
import { useScalers } from "../support/scaler-fixture.ts"
import { runCli, writeConfig } from "../support/scaler-process.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const scalers = useScalers()

/** A queue that never wakes for these few jobs (activation 1000): what enters it stays there to be counted. */
const configFor = (queue: string) => writeConfig(`
nats: { url: "${nats.server.url}" }
runtime: { driver: process }
scaler: { interval: 500ms, lease: 2s }
queues:
  ${queue}:
    command: [node, -e, "0"]
    maxReplicas: 1
    activation: 1000
`)

/** The bodies of every message in a stream (nothing acks them away). */
const bodies = async (stream: string) => {
  const info = await nats.jsm.streams.info(stream)
  const out: Array<{ body: string; time: number; subject: string }> = []
  if (info.state.messages === 0) return out
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
    const m = await nats.jsm.streams.getMessage(stream, { seq }).catch(() => null)
    if (m) out.push({ body: m.string(), time: m.time.getTime(), subject: m.subject })
  }
  return out
}
const waiting = async (queue: string) => (await Effect.runPromise(delayedCounts(nats.jsm))).get(queue) ?? 0

describe("delayed jobs end to end", () => {
  it("enqueue --delay/--at and pub --delay/-H Jetscale-Not-Before wait outside the queue and enter it when due; bad values are refused", async () => {
    const q: QueueConfig = testQueue("dcli")
    await Effect.runPromise(provisionQueue(nats.jsm, q))
    await Effect.runPromise(provisionDelayed(nats.jsm, [q]))
    const path = await configFor(q.name)
    const cli = (...args: Array<string>) => runCli([...args, "--config", path])

    const start = Date.now()
    const at = formatInstant(Math.ceil((start + 4000) / 1000) * 1000)
    const results = await Promise.all([
      cli("enqueue", q.name, `{"id":"delay"}`, "--delay", "1s"),
      cli("enqueue", q.name, `{"id":"at"}`, "--at", at, "--count", "2"),
      cli("pub", `jobs.${q.name}`, `{"id":"pub"}`, "--delay", "1500ms", "-H", "X-Source:cli"),
      // Far enough ahead that a CLI slow to start on a loaded machine still finds it in the future.
      cli("pub", `jobs.${q.name}`, `{"id":"header"}`, "-H", `${notBeforeHeader}:${formatInstant(start + 4000)}`),
      cli("pub", delayedSubject(q.name), `{"id":"direct"}`, "--delay", "1s")
    ])
    for (const r of results) expect(r.stderr).toBe("")
    expect(results[0]!.stdout).toMatch(new RegExp(`^queued 1 ${q.name} job\\(s\\) on ${delayedSubject(q.name).replaceAll(".", "\\.")} \\(stream ${delayedStream}, seq \\d+\\), due \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z$`, "m"))
    expect(results[1]!.stdout).toContain(`queued 2 ${q.name} job(s) on ${delayedSubject(q.name)}`)
    expect(results[1]!.stdout).toContain(`, due ${at}`)
    expect(results[2]!.stdout).toContain(`published 1 message(s) to ${delayedSubject(q.name)} for jobs.${q.name} (queue ${q.name}, stream ${delayedStream}, seq`)
    expect(results[3]!.stdout).toContain(`, due ${formatInstant(start + 4000)}`)
    // Straight to the delayed subject: through JetStream too.
    expect(results[4]!.stdout).toContain(`published 1 message(s) to ${delayedSubject(q.name)} (queue ${q.name}, stream ${delayedStream}, seq`)
    // Nothing on the work subject: no delivery, no wake-up.
    expect((await nats.jsm.streams.info(q.stream)).state.messages).toBe(0)
    expect(await waiting(q.name)).toBe(6)

    const refused = await Promise.all([
      cli("enqueue", q.name, "{}", "--delay", "soon"),
      cli("enqueue", q.name, "{}", "--delay", "1s", "--at", at),
      cli("enqueue", q.name, "{}", "--at", "2020-01-01T00:00:00Z"),
      cli("enqueue", q.name, "{}", "--delay", "400d"),
      cli("pub", "not.a.queue", "{}", "--delay", "1s"),
      cli("pub", `jobs.${q.name}`, "{}", "-H", `${notBeforeHeader}:whenever`)
    ])
    expect(refused.map((r) => r.code)).toEqual([1, 1, 1, 1, 1, 1])
    expect(refused[0]!.stderr).toContain(`--delay: invalid duration "soon"`)
    expect(refused[1]!.stderr).toContain("--delay and --at: give one of them, not both")
    expect(refused[2]!.stderr).toContain("--at: 2020-01-01T00:00:00Z is more than a minute in the past")
    expect(refused[3]!.stderr).toContain("--delay: expected at most 366d")
    expect(refused[4]!.stderr).toContain("no configured queue captures not.a.queue")
    expect(refused[5]!.stderr).toContain(`-H ${notBeforeHeader}: expected an RFC 3339 time`)
    expect(await waiting(q.name)).toBe(6)

    // The releaser (run here; `jetscale up` runs it in the next test) lets each in when due.
    const releaser = Effect.runFork(runDelayReleaser(jetstream(nats.nc), nats.jsm, [q]))
    try {
      const all = await waitFor("the 6 jobs in the queue", async () => { const b = await bodies(q.stream); return b.length === 6 && b }, 10_000)
      const dueOf: Record<string, number> = { delay: start + 1000, at: Date.parse(at), pub: start + 1500, header: start + 1500, direct: start + 1000 }
      for (const m of all) {
        expect(m.subject).toBe(`jobs.${q.name}`)
        expect(m.time).toBeGreaterThanOrEqual(dueOf[JSON.parse(m.body).id as string]!)
      }
      expect(all.map((m) => JSON.parse(m.body).id).sort()).toEqual(["at", "at", "delay", "direct", "header", "pub"])
    } finally {
      Effect.runFork(Fiber.interrupt(releaser))
    }
  })

  it("jetscale up SIGKILLed and started again around the due times of 50 jobs: each enters its queue exactly once", async () => {
    const queue = uniqueName("drestart")
    const stream = streamName(queue)
    const path = await configFor(queue)
    const first = scalers.up(path)
    await first.waitForOutput("scaler up")
    await waitFor("the release consumer", () => nats.jsm.consumers.info(delayedStream, releaseConsumer(queue)).then(() => true, () => false), 10_000)

    const start = Date.now()
    const js = jetstream(nats.nc)
    await Promise.all(Array.from({ length: 50 }, (_, i) => {
      const h = natsHeaders()
      h.set(notBeforeHeader, String(start + 1000 + i * 50))
      return js.publish(delayedSubject(queue), JSON.stringify({ id: i }), { headers: h })
    }))
    await waitFor("some jobs released", async () => (await nats.jsm.streams.info(stream)).state.messages >= 10, 10_000)
    await first.stop("SIGKILL")
    const released = (await nats.jsm.streams.info(stream)).state.messages
    expect(released).toBeLessThan(50)

    const second = scalers.up(path)
    await second.waitForOutput("scaler up")
    // Jobs the killed scaler held come back after ack_wait (10s); those it published but had not acked yet are dropped as duplicates.
    await waitFor("every delayed job settled", async () => {
      const c = await nats.jsm.consumers.info(delayedStream, releaseConsumer(queue))
      return c.num_pending + c.num_ack_pending === 0 && (await waiting(queue)) === 0
    }, 15_000)
    const all = await bodies(stream)
    const ids = all.map((m) => JSON.parse(m.body).id as number).sort((a, b) => a - b)
    expect(ids).toEqual(Array.from({ length: 50 }, (_, i) => i))
    for (const m of all) expect(m.time).toBeGreaterThanOrEqual(start + 1000 + JSON.parse(m.body).id * 50)
  })
})
