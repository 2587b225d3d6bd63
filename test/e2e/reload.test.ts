// Live config reload, end to end: a real `jetscale up` (process driver) on a real nats-server takes an
// edited config file without a restart (queue added, removed and changed; the removed queue's
// running job finishes first), refuses an invalid one (log, event, /readyz) and keeps running the
// config before it, and reloads on SIGHUP.
import { jetstream } from "@nats-io/jetstream"
import { spawn } from "node:child_process"
import { rename, utimes, writeFile } from "node:fs/promises"
import { describe, expect, it } from "vitest"
import { configEventSubject, streamName } from "../../src/jetstream/names.ts"
import type { ConfigEvent } from "../../src/scaler/reload.ts"
import type { QueueStatus } from "../../src/scaler/queue-loop.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { uniqueName } from "../support/queue.ts"
import { useScalers } from "../support/scaler-fixture.ts"
import { writeConfig } from "../support/scaler-process.ts"
import { waitFor } from "../support/wait.ts"

describe("live config reload", () => {
  const nats = useNatsServer()
  const scalers = useScalers()

  it("applies an edited file (add, remove, change) and SIGHUP without a restart; refuses an invalid one and keeps the running config", async () => {
    const [kept, removed, added] = [uniqueName("keep"), uniqueName("gone"), uniqueName("new")]
    const queueYaml = (name: string, settings: Record<string, string | number>) => [
      `  ${name}:`,
      "    image: jetscale/worker-demo:dev",
      `    command: ["node", "services/workers/demo/dist/main.js"]`,
      ...Object.entries({ concurrency: 2, idleTimeout: "30s", scaleDownDelay: "1s", stopTimeout: "20s", ...settings }).map(([k, v]) => `    ${k}: ${v}`)
    ].join("\n")
    const configText = (queues: ReadonlyArray<string>) => [
      `nats: { url: "${nats.server.url}" }`,
      "runtime: { driver: process }",
      "scaler: { interval: 500ms }",
      `admin: { listen: "127.0.0.1:0" }`,
      "queues:",
      ...queues
    ].join("\n") + "\n"
    const path = await writeConfig(configText([queueYaml(kept, { maxReplicas: 2 }), queueYaml(removed, { maxReplicas: 1 })]))
    // As an editor saves: a new file renamed over the old one.
    const save = async (text: string) => {
      await writeFile(`${path}.tmp`, text)
      await rename(`${path}.tmp`, path)
    }

    const events: Array<ConfigEvent> = []
    const sub = nats.nc.subscribe(configEventSubject, { callback: (_e, m) => void events.push(m.json<ConfigEvent>()) })
    const scaler = scalers.up(path)
    await scaler.waitForOutput("scaler up")
    const adminLine = /admin API on (http:\/\/[\d.]+:\d+)/
    await scaler.waitForOutput(adminLine)
    const admin = adminLine.exec(scaler.output())![1]!
    const api = async (route: string) => {
      const res = await fetch(`${admin}${route}`)
      return { status: res.status, json: await res.json() as any }
    }
    const queueNames = async () => ((await api("/api/queues")).json.queues as Array<QueueStatus>).map((q) => q.name).sort()
    expect(await queueNames()).toEqual([kept, removed].sort())
    const maxAckPending = async (queue: string) => (await nats.jsm.consumers.info(streamName(queue), "workers")).config.max_ack_pending
    expect(await maxAckPending(kept)).toBe(4)

    // A long job on the queue about to be removed: its worker must finish it before it stops.
    const js = jetstream(nats.nc)
    await js.publish(`jobs.${removed}`, JSON.stringify({ sleepMs: 3000 }))
    await waitFor("the long job taken by a worker", async () => (await nats.jsm.consumers.info(streamName(removed), "workers")).num_ack_pending === 1, 30_000, 100)

    // `jetscale events` prints the reload too
    const eventsCli = spawn(process.execPath, ["bin/jetscale.js", "events", "--config", path], { stdio: ["ignore", "pipe", "pipe"] })
    let eventsOut = ""
    let eventsErr = ""
    eventsCli.stdout.on("data", (d: Buffer) => (eventsOut += d))
    eventsCli.stderr.on("data", (d: Buffer) => (eventsErr += d))
    const eventsExited = new Promise((r) => eventsCli.once("exit", r))
    await waitFor("jetscale events listening", () => eventsErr.includes("waiting for scale, config and leader events"), 20_000, 50)

    // added, removed, changed: one save
    await save(configText([queueYaml(kept, { maxReplicas: 3 }), queueYaml(added, { maxReplicas: 1 })]))
    const reloaded = await waitFor("the reload event", () => events.find((e) => e.type === "reloaded"), 20_000, 100)
    expect(reloaded).toMatchObject({ type: "reloaded", trigger: "file", file: path, added: [added], removed: [removed], changed: [{ queue: kept, fields: ["maxReplicas"] }], needsRestart: [] })
    expect(scaler.output()).toContain(`reloaded (file): added queue ${added}; removed queue ${removed}; changed queue ${kept} (maxReplicas)`)
    expect(await queueNames()).toEqual([kept, added].sort())
    expect(await maxAckPending(kept)).toBe(6)
    expect(await maxAckPending(added)).toBe(2)
    await waitFor("the reload in jetscale events", () => eventsOut.includes(`config  reloaded (file): added queue ${added}; removed queue ${removed}`), 10_000, 50)
    eventsCli.kill("SIGINT")
    await eventsExited
    // the removed queue's job was finished (acked), not cut off; its worker then stopped
    await waitFor("the removed queue's job acked", async () => (await nats.jsm.streams.info(streamName(removed))).state.messages === 0, 30_000, 200)
    expect((await nats.jsm.consumers.info(streamName(removed), "workers")).ack_floor.stream_seq).toBe(1)
    await scaler.waitForOutput(`queue ${removed} is no longer in the config: shutting down its worker`)
    // the added queue works: a job wakes it and is acked
    await js.publish(`jobs.${added}`, JSON.stringify({ sleepMs: 10 }))
    await waitFor("the added queue's job acked", async () => {
      const c = await nats.jsm.consumers.info(streamName(added), "workers")
      return c.ack_floor.stream_seq === 1 && c.num_ack_pending === 0
    }, 30_000, 200)

    // an invalid config: refused with its problem lines; the running config stays
    await save(configText([queueYaml(kept, { maxReplicas: -1 }), queueYaml(added, { maxReplicas: 1 })]))
    const refused = await waitFor("the refusal event", () => events.find((e) => e.type === "refused"), 20_000, 100)
    expect(refused.type === "refused" && refused.problems.join("\n")).toMatch(new RegExp(`queues\\.${kept}\\.maxReplicas: `))
    expect(scaler.output()).toMatch(new RegExp(`config ${path.replaceAll(/[.*+?^${}()|[\]\\/]/g, "\\$&")} refused \\(file\\); the running config stays:\\n  queues\\.${kept}\\.maxReplicas`))
    const ready = await api("/readyz")
    expect(ready.status).toBe(200)
    expect(ready.json.configRefused.problems.join("\n")).toContain(`queues.${kept}.maxReplicas`)
    expect(ready.json.warning).toContain("the running config stays")
    expect(await queueNames()).toEqual([kept, added].sort())
    expect(await maxAckPending(kept)).toBe(6)

    // fixed again, then SIGHUP with nothing changed: reloaded, "no change"; /readyz forgets the refusal
    await save(configText([queueYaml(kept, { maxReplicas: 3 }), queueYaml(added, { maxReplicas: 1 })]))
    await waitFor("the fixed config reloaded", () => events.filter((e) => e.type === "reloaded").length === 2, 20_000, 100)
    process.kill(scaler.pid, "SIGHUP")
    // a file event right after it (a touch) must not hide the SIGHUP
    await utimes(path, new Date(), new Date())
    const hup = await waitFor("the SIGHUP reload", () => events.find((e) => e.trigger === "SIGHUP"), 20_000, 100)
    expect(hup).toMatchObject({ type: "reloaded", added: [], removed: [], changed: [], applied: [], needsRestart: [] })
    expect(scaler.output()).toContain("reloaded (SIGHUP): no change")
    expect((await api("/readyz")).json.configRefused).toBeUndefined()

    // one scaler process all along
    expect(scaler.output().match(/scaler up/g)).toHaveLength(1)
    sub.unsubscribe()
    expect(await scaler.stop("SIGTERM")).toBe(0)
  }, 180_000)
})
