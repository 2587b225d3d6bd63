// Unit tests for the config loader (src/config): decoding and defaults, env overrides, the unit
// schemas, and the exact `path: reason` lines reported for bad files (all problems at once).
import { afterAll, assert, describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Schema } from "effect"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ByteSize, ShortDuration } from "../../src/config/duration.ts"
import { formatProblem } from "../../src/config/errors.ts"
import { type ConfigLoadError, decodeConfig, formatConfigError, loadConfig, scalerCredentialProblems } from "../../src/config/load.ts"
import type { BackoffPolicy } from "../../src/config/model.ts"

const dir = mkdtempSync(join(tmpdir(), "jetscale-config-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const writeConfig = (name: string, text: string): string => {
  const path = join(dir, name)
  writeFileSync(path, text)
  return path
}
const ms = (d: Duration.Duration) => Duration.toMillis(d)
/** A backoff policy with its durations in ms, for deep equality. */
const backoffMs = (b: BackoffPolicy) =>
  b._tag === "list"
    ? { _tag: b._tag, delays: b.delays.map(ms) }
    : { _tag: b._tag, initial: ms(b.initial), max: ms(b.max), factor: b.factor, jitter: b.jitter }
/** The problem lines of a decode that must fail. */
const problemsOf = (value: unknown, env: Record<string, string> = {}) =>
  decodeConfig(value, env).pipe(Effect.flip, Effect.map((e) => e.problems))

const FULL = `
nats:
  url: [nats://nats-1.internal:4222, nats://nats-2.internal:4222, nats://nats-3.internal:4222]
jetstream:
  replicas: 3
runtime:
  driver: docker
  docker:
    network: jetscale
    socketPath: /run/docker.sock
scaler:
  interval: 500ms
admin:
  listen: 0.0.0.0:9000
queues:
  thumbnails:
    subjects: [jobs.thumbnails, jobs.images.*]
    image: jetscale/worker-thumbnails:1.2
    command: [node, dist/main.js, --verbose]
    env: { LOG_LEVEL: debug, PORT: 8080, DRY_RUN: false }
    minReplicas: 1
    maxReplicas: 20
    targetPending: 50
    activation: 3
    idleTimeout: 2m
    scaleDownDelay: 1.5m
    concurrency: 8
    ackWait: 45s
    maxDeliver: 7
    replicas: 3
    backoff: [250ms, 2s, 1h]
    stopTimeout: 1d
    limits: { memory: 512m, cpus: 1.5, pids: 100 }
  send-email:
    image: jetscale/worker-email:dev
`

describe("loadConfig: valid files", () => {
  it.live("decodes a full file into the model", () =>
    Effect.gen(function*() {
      const config = yield* loadConfig(writeConfig("full.yaml", FULL), {})
      assert.deepStrictEqual(config.nats, { url: "nats://nats-1.internal:4222,nats://nats-2.internal:4222,nats://nats-3.internal:4222" })
      assert.deepStrictEqual(config.jetstream, { replicas: 3 })
      assert.deepStrictEqual(config.runtime, { driver: "docker", docker: { network: "jetscale", socketPath: "/run/docker.sock", allowPrivileged: false } })
      assert.strictEqual(ms(config.scaler.interval), 500)
      assert.deepStrictEqual(config.admin, { listen: "0.0.0.0:9000" })
      assert.deepStrictEqual(config.queues.map((q) => q.name), ["thumbnails", "send-email"])
      const [q, email] = config.queues
      expect({ ...q, idleTimeout: 0, scaleDownDelay: 0, ackWait: 0, backoff: 0, stopTimeout: 0, targetWait: 0 }).toEqual({
        name: "thumbnails",
        stream: "JETSCALE_THUMBNAILS",
        privileged: false,
        idle: "stop",
        mounts: [],
        consumer: "workers",
        subjects: ["jobs.thumbnails", "jobs.images.*"],
        image: "jetscale/worker-thumbnails:1.2",
        command: ["node", "dist/main.js", "--verbose"],
        env: { LOG_LEVEL: "debug", PORT: "8080", DRY_RUN: "false" },
        minReplicas: 1,
        maxReplicas: 20,
        targetPending: 50,
        activation: 3,
        concurrency: 8,
        maxDeliver: 7,
        replicas: 3,
        placement: { constraints: [], preferences: [] },
        limits: { memoryBytes: 512 * 1024 ** 2, cpus: 1.5, pids: 100 },
        idleTimeout: 0, scaleDownDelay: 0, ackWait: 0, backoff: 0, stopTimeout: 0,
        signals: ["backlog"], targetWait: 0, scaleUpAt: 0.8, scaleDownAt: 0.2, step: { up: { _tag: "jump" }, down: "half" }, priority: 0, schedule: [], mode: "worker", levels: []
      })
      assert.deepStrictEqual(
        [q!.idleTimeout, q!.scaleDownDelay, q!.ackWait, q!.stopTimeout].map(ms),
        [120_000, 90_000, 45_000, 86_400_000]
      )
      assert.deepStrictEqual(backoffMs(q!.backoff), { _tag: "list", delays: [250, 2000, 3_600_000] })
      assert.strictEqual(email!.stream, "JETSCALE_SEND_EMAIL")
      assert.deepStrictEqual(email!.subjects, ["jobs.send-email"])
    }))

  it.effect("fills every default from a minimal file", () =>
    Effect.gen(function*() {
      const config = yield* decodeConfig({ queues: { demo: { image: "x" } } }, {})
      assert.deepStrictEqual(config.nats, { url: "nats://127.0.0.1:4222" })
      assert.deepStrictEqual(config.runtime, { driver: "docker", docker: { network: "host", allowPrivileged: false } })
      assert.strictEqual(ms(config.scaler.interval), 1000)
      assert.deepStrictEqual(config.admin, { listen: "127.0.0.1:9464" })
      assert.deepStrictEqual(config.jetstream, { replicas: 1 })
      const q = config.queues[0]!
      assert.deepStrictEqual(
        { ...q, idleTimeout: ms(q.idleTimeout), scaleDownDelay: ms(q.scaleDownDelay), ackWait: ms(q.ackWait), stopTimeout: ms(q.stopTimeout), backoff: backoffMs(q.backoff), targetWait: ms(q.targetWait) },
        {
          name: "demo", privileged: false, idle: "stop", mounts: [], stream: "JETSCALE_DEMO", consumer: "workers", subjects: ["jobs.demo"], image: "x", env: {},
          minReplicas: 0, maxReplicas: 5, targetPending: 10, activation: 1, idleTimeout: 30_000, scaleDownDelay: 10_000,
          concurrency: 4, ackWait: 30_000, maxDeliver: 5, replicas: 1, backoff: { _tag: "list", delays: [1000, 5000, 30_000] },
          stopTimeout: 30_000, limits: {}, placement: { constraints: [], preferences: [] },
          signals: ["backlog"], targetWait: 10_000, scaleUpAt: 0.8, scaleDownAt: 0.2, step: { up: { _tag: "jump" }, down: "half" }, priority: 0, schedule: [], mode: "worker", levels: []
        }
      )
      assert.isFalse("command" in q)
    }))

  it.effect.each([
    ["missing queues key", {}],
    ["empty queues map", { queues: {} }],
    ["`queues:` with nothing under it", { queues: null }],
    ["empty document", null]
  ] as const)("zero queues: %s", ([, value]) =>
    Effect.map(decodeConfig(value, {}), (c) => assert.deepStrictEqual(c.queues, [])))

  it.effect("keeps queues in file order; process driver needs command, not image", () =>
    Effect.gen(function*() {
      const config = yield* decodeConfig({
        runtime: { driver: "process" },
        queues: { zeta: { command: ["z"] }, alpha: { command: ["a"] }, mid: { command: ["m"], image: "ignored-ok" } }
      }, {})
      assert.deepStrictEqual(config.queues.map((q) => q.name), ["zeta", "alpha", "mid"])
      assert.deepStrictEqual(config.queues[0]!.command, ["z"])
    }))

  it.effect.each([
    ["overrides nats.url", { NATS_URL: "nats://env:4222" }, "nats://env:4222"],
    ["ignores an empty NATS_URL", { NATS_URL: "" }, "nats://file:4222"],
    ["keeps the file value without NATS_URL", {}, "nats://file:4222"]
  ] as const)("NATS_URL %s", ([, env, url]) =>
    Effect.map(decodeConfig({ nats: { url: "nats://file:4222" } }, env), (c) => assert.strictEqual(c.nats.url, url)))

  it.effect("privileged is accepted with runtime.docker.allowPrivileged: true", () =>
    Effect.map(decodeConfig({ runtime: { docker: { allowPrivileged: true } }, queues: { demo: { image: "x", privileged: true } } }, {}),
      (c) => assert.strictEqual(c.queues[0]!.privileged, true)))

  it.effect("JETSCALE_ADMIN_LISTEN overrides admin.listen", () =>
    Effect.map(decodeConfig({ admin: { listen: "127.0.0.1:9464" } }, { JETSCALE_ADMIN_LISTEN: "0.0.0.0:9464" }),
      (c) => assert.strictEqual(c.admin.listen, "0.0.0.0:9464")))

  it.effect("JETSCALE_DOCKER_NETWORK overrides runtime.docker.network", () =>
    Effect.map(decodeConfig({ runtime: { docker: { network: "host" } } }, { JETSCALE_DOCKER_NETWORK: "jetscale" }),
      (c) => assert.strictEqual(c.runtime.docker.network, "jetscale")))

  it.effect.each([
    ["from the file, passwords from the environment", { user: "scaler", workerUser: "worker" }, { NATS_PASSWORD: "s", JETSCALE_WORKER_PASSWORD: "w" },
      { credentials: { user: "scaler", password: "s" }, workerCredentials: { user: "worker", password: "w" } }],
    ["users from the environment win", { user: "a", workerUser: "b" }, { NATS_USER: "scaler", NATS_PASSWORD: "s", JETSCALE_WORKER_USER: "worker", JETSCALE_WORKER_PASSWORD: "w" },
      { credentials: { user: "scaler", password: "s" }, workerCredentials: { user: "worker", password: "w" } }],
    ["none: anonymous", {}, {}, {}],
    ["a CLI user needs no worker password", { user: "scaler", workerUser: "worker" }, { NATS_PASSWORD: "s" },
      { credentials: { user: "scaler", password: "s" }, workerCredentials: { user: "worker", password: "" } }]
  ] as const)("NATS credentials %s", ([, nats, env, expected]) =>
    Effect.map(decodeConfig({ nats }, env), (c) => {
      const { url: _, ...credentials } = c.nats
      assert.deepStrictEqual(credentials, expected)
    }))

  it.effect("a user without NATS_PASSWORD is refused with its path", () =>
    Effect.map(problemsOf({ nats: { user: "scaler" } }), (problems) =>
      expect(problems).toEqual([`nats.user: user "scaler" needs its password in the environment variable NATS_PASSWORD (never in this file)`])))

  it.effect("a password in the file is refused, pointing to the environment", () =>
    Effect.map(problemsOf({ nats: { user: "scaler", password: "secret" } }), (problems) =>
      expect(problems).toEqual(["nats.password: unknown key: passwords are read only from the environment (NATS_PASSWORD)"])))

  it.effect.each([
    ["no worker user", { credentials: { user: "scaler", password: "s" } }, `nats.workerUser: required when the scaler connects as user "scaler"`],
    ["the scaler's own user", { credentials: { user: "scaler", password: "s" }, workerCredentials: { user: "scaler", password: "s" } }, `nats.workerUser: must differ from the scaler's user ("scaler")`],
    ["no worker password", { workerCredentials: { user: "worker", password: "" } }, `nats.workerUser: user "worker" needs its password in the environment variable JETSCALE_WORKER_PASSWORD`]
  ] as const)("the scaler refuses %s", ([, nats, text]) =>
    Effect.sync(() => {
      const problems = scalerCredentialProblems({ url: "nats://x:4222", ...nats }).map(formatProblem)
      expect(problems).toHaveLength(1)
      expect(problems[0]).toContain(text)
    }))

  it.effect("the scaler accepts its own user plus a worker user with a password", () =>
    Effect.sync(() => expect(scalerCredentialProblems({ url: "nats://x:4222", credentials: { user: "scaler", password: "s" }, workerCredentials: { user: "worker", password: "w" } })).toEqual([])))

  it.effect("mounts: read-only unless :rw, absolute paths, never the Docker socket, docker driver only", () =>
    Effect.gen(function*() {
      const c = yield* decodeConfig(q({ mounts: ["/srv/models:/models", "/srv/out:/out:rw"] }), {})
      assert.deepStrictEqual(c.queues[0]!.mounts, [
        { source: "/srv/models", target: "/models", readOnly: true },
        { source: "/srv/out", target: "/out", readOnly: false }
      ])
      assert.deepStrictEqual((yield* decodeConfig(q({}), {})).queues[0]!.mounts, [])
      const problems = yield* problemsOf(q({ mounts: ["data:/data", "/var/run/docker.sock:/var/run/docker.sock", "/a:/b:rx"] }))
      expect(problems).toEqual([
        `queues.demo.mounts[0]: expected "/host/path:/container/path" with absolute paths, optionally ":ro" or ":rw", got "data:/data"`,
        "queues.demo.mounts[1]: the Docker socket would give a worker the whole host: refused",
        `queues.demo.mounts[2]: expected "/host/path:/container/path" with absolute paths, optionally ":ro" or ":rw", got "/a:/b:rx"`
      ])
      expect(yield* problemsOf({ runtime: { driver: "process" }, queues: { demo: { command: ["x"], mounts: ["/a:/b"] } } }))
        .toEqual(["queues.demo.mounts: only the docker driver mounts host paths (a process worker sees the host's files already)"])
    }))

  it.live("loadConfig applies NATS_URL too", () =>
    Effect.map(
      loadConfig(writeConfig("env.yaml", "queues: {}\n"), { NATS_URL: "nats://from-env:4222" }),
      (c) => assert.strictEqual(c.nats.url, "nats://from-env:4222")
    ))
})

describe("unit schemas", () => {
  it.each([
    ["500ms", 500], ["10s", 10_000], ["5m", 300_000], ["1.5h", 5_400_000], ["2d", 172_800_000], ["0s", 0]
  ] as const)("ShortDuration %s", (input, expected) => {
    assert.strictEqual(ms(Schema.decodeUnknownSync(ShortDuration)(input)), expected)
  })
  it.each(["soon", "10", "10 s", "1.5", "-1s", "10sec", ""])("ShortDuration rejects %j", (input) => {
    expect(() => Schema.decodeUnknownSync(ShortDuration)(input)).toThrow(`invalid duration ${JSON.stringify(input)}`)
  })
  it.each([
    ["256m", 268_435_456], ["1g", 1_073_741_824], ["512k", 524_288], [1024, 1024], ["1024", 1024],
    ["256mb", 268_435_456], ["256MiB", 268_435_456], ["1G", 1_073_741_824], ["1.5k", 1536]
  ] as const)("ByteSize %j", (input, expected) => {
    assert.strictEqual(Schema.decodeUnknownSync(ByteSize)(input), expected)
  })
  it.each(["lots", "12x", "-1m", -5, 1.5])("ByteSize rejects %j", (input) => {
    expect(() => Schema.decodeUnknownSync(ByteSize)(input)).toThrow("invalid size")
  })
})

const q = (body: Record<string, unknown>) => ({ queues: { demo: { image: "x", ...body } } })

describe("decodeConfig: one problem each", () => {
  it.effect.each<readonly [string, unknown, string]>([
    ["maxReplicas below minReplicas", q({ maxReplicas: -1 }), "queues.demo.maxReplicas: expected an integer >= minReplicas (0), got -1"],
    ["maxReplicas 0", q({ maxReplicas: 0 }), "queues.demo.maxReplicas: expected an integer >= 1, got 0"],
    ["default maxReplicas below minReplicas", q({ minReplicas: 8 }), "queues.demo.maxReplicas: expected an integer >= minReplicas (8), got 5 (the default)"],
    ["typo in a queue key", q({ maxReplica: 3 }), "queues.demo.maxReplica: unknown key (did you mean maxReplicas?)"],
    ["typo at the top level", { ...q({}), scalr: {} }, "scalr: unknown key (did you mean scaler?)"],
    ["unknown key, no suggestion", { ...q({}), runtime: { kubernetes: {} } }, "runtime.kubernetes: unknown key"],
    ["unknown key in limits", q({ limits: { memmory: "1g" } }), "queues.demo.limits.memmory: unknown key (did you mean memory?)"],
    ["unknown driver", { ...q({}), runtime: { driver: "podman" } }, `runtime.driver: expected "docker", "process" or "swarm", got "podman"`],
    ["bad duration", q({ idleTimeout: "soon" }), `queues.demo.idleTimeout: invalid duration "soon" (use 30s, 5m, 250ms)`],
    ["duration without unit", q({ idleTimeout: 30 }), "queues.demo.idleTimeout: expected a duration like 30s, 5m or 250ms, got 30"],
    ["bad backoff entry", q({ backoff: ["1s", "later"] }), `queues.demo.backoff[1]: invalid duration "later" (use 30s, 5m, 250ms)`],
    ["empty backoff", q({ backoff: [] }), "queues.demo.backoff: expected a non-empty list of durations"],
    ["backoff neither list nor mapping", q({ backoff: "fast" }), `queues.demo.backoff: expected a list of durations or { initial, max, factor, jitter }, got "fast"`],
    ["backoff a single duration", q({ backoff: 5 }), "queues.demo.backoff: expected a list of durations or { initial, max, factor, jitter }, got 5"],
    ["null backoff", q({ backoff: null }), "queues.demo.backoff: expected a list of durations or { initial, max, factor, jitter }, got null"],
    ["backoff mapping without initial", q({ backoff: { max: "1m" } }), "queues.demo.backoff.initial: required"],
    ["backoff initial 0", q({ backoff: { initial: "0s" } }), "queues.demo.backoff.initial: expected a duration > 0, got 0s"],
    ["bad backoff initial", q({ backoff: { initial: "soon" } }), `queues.demo.backoff.initial: invalid duration "soon" (use 30s, 5m, 250ms)`],
    ["backoff initial without unit", q({ backoff: { initial: 100 } }), "queues.demo.backoff.initial: expected a duration like 30s, 5m or 250ms, got 100"],
    ["bad backoff max", q({ backoff: { initial: "1s", max: "later" } }), `queues.demo.backoff.max: invalid duration "later" (use 30s, 5m, 250ms)`],
    ["backoff max below initial", q({ backoff: { initial: "1m", max: "10s" } }), "queues.demo.backoff.max: expected a duration >= initial (1m), got 10s"],
    ["default backoff max below initial", q({ backoff: { initial: "2m" } }), "queues.demo.backoff.max: expected a duration >= initial (2m), got 1m (the default)"],
    ["backoff factor below 1", q({ backoff: { initial: "1s", factor: 0.5 } }), "queues.demo.backoff.factor: expected a number >= 1, got 0.5"],
    ["backoff factor a string", q({ backoff: { initial: "1s", factor: "two" } }), `queues.demo.backoff.factor: expected a number >= 1, got "two"`],
    ["backoff factor infinite", q({ backoff: { initial: "1s", factor: Infinity } }), "queues.demo.backoff.factor: expected a number >= 1, got Infinity"],
    ["backoff jitter 1", q({ backoff: { initial: "1s", jitter: 1 } }), "queues.demo.backoff.jitter: expected a number in [0, 1), got 1"],
    ["negative backoff jitter", q({ backoff: { initial: "1s", jitter: -0.1 } }), "queues.demo.backoff.jitter: expected a number in [0, 1), got -0.1"],
    ["typo in a backoff key", q({ backoff: { initial: "1s", factr: 3 } }), "queues.demo.backoff.factr: unknown key (did you mean factor?)"],
    ["unknown backoff key", q({ backoff: { initial: "1s", retries: 3 } }), "queues.demo.backoff.retries: unknown key"],
    ["ackWait under 1s", q({ ackWait: "500ms" }), "queues.demo.ackWait: expected a duration >= 1s, got 500ms"],
    ["zero interval", { scaler: { interval: "0s" } }, "scaler.interval: expected a duration > 0, got 0s"],
    ["missing image for docker", { queues: { demo: {} } }, "queues.demo.image: required when runtime.driver is docker"],
    ["missing command for process", { runtime: { driver: "process" }, queues: { demo: {} } }, "queues.demo.command: required when runtime.driver is process"],
    ["bad queue name", { queues: { Bad_Name: { image: "x" } } }, "queues.Bad_Name: queue name must match [a-z0-9][a-z0-9-]*"],
    ["queue name starting with -", { queues: { "-x": { image: "x" } } }, "queues.-x: queue name must match [a-z0-9][a-z0-9-]*"],
    ["reserved queue name dlq", { queues: { dlq: { image: "x" } } }, `queues.dlq: queue name "dlq" is reserved (jetscale uses the stream JETSCALE_DLQ)`],
    ["reserved queue name advisories", { queues: { advisories: { image: "x" } } }, `queues.advisories: queue name "advisories" is reserved (jetscale uses the stream JETSCALE_ADVISORIES)`],
    ["privileged without allowPrivileged", { queues: { demo: { image: "x", privileged: true } } }, "queues.demo.privileged: privileged containers are refused unless runtime.docker.allowPrivileged is true"],
    ["reserved queue name logs", { queues: { logs: { image: "x" } } }, `queues.logs: queue name "logs" is reserved (jetscale uses the stream JETSCALE_LOGS)`],
    ["upper-case reserved name", { queues: { DLQ: { image: "x" } } }, "queues.DLQ: queue name must match [a-z0-9][a-z0-9-]*"],
    // `-` -> `_` in stream names: `a_b` would share JETSCALE_A_B with `a-b`, but `_` is not allowed
    ["queue name with _ next to its - twin", { queues: { "a-b": { image: "x" }, a_b: { image: "x" } } }, "queues.a_b: queue name must match [a-z0-9][a-z0-9-]*"],
    ["not an integer", q({ concurrency: 2.5 }), "queues.demo.concurrency: expected an integer >= 1, got 2.5"],
    ["unknown idle mode", q({ idle: "sleep" }), `queues.demo.idle: expected "stop" or "suspend", got "sleep"`],
    ["string for an integer", q({ targetPending: "ten" }), `queues.demo.targetPending: expected an integer >= 1, got "ten"`],
    ["negative minReplicas", q({ minReplicas: -1 }), "queues.demo.minReplicas: expected an integer >= 0, got -1"],
    ["zero activation", q({ activation: 0 }), "queues.demo.activation: expected an integer >= 1, got 0"],
    ["zero maxDeliver", q({ maxDeliver: 0 }), "queues.demo.maxDeliver: expected an integer >= 1, got 0"],
    ["cpus 0", q({ limits: { cpus: 0 } }), "queues.demo.limits.cpus: expected a number > 0, got 0"],
    ["pids 0", q({ limits: { pids: 0 } }), "queues.demo.limits.pids: expected an integer >= 1, got 0"],
    ["bad memory", q({ limits: { memory: "lots" } }), `queues.demo.limits.memory: invalid size "lots" (use 512k, 256m, 1g)`],
    ["null env value", q({ env: { A: null } }), "queues.demo.env.A: expected a string, got null"],
    ["list for env", q({ env: ["A=1"] }), "queues.demo.env: expected a mapping, got a list"],
    ["empty subject token", q({ subjects: ["jobs..demo"] }), `queues.demo.subjects[0]: invalid NATS subject "jobs..demo" (empty token)`],
    ["space in subject", q({ subjects: ["jobs demo"] }), `queues.demo.subjects[0]: invalid NATS subject "jobs demo" (contains whitespace)`],
    ["partial wildcard", q({ subjects: ["jobs.de*"] }), `queues.demo.subjects[0]: invalid NATS subject "jobs.de*" (wildcards * and > must be whole tokens ("de*"))`],
    [">, not last", q({ subjects: ["jobs.>.x"] }), `queues.demo.subjects[0]: invalid NATS subject "jobs.>.x" (> must be the last token)`],
    ["no subjects", q({ subjects: [] }), "queues.demo.subjects: expected a non-empty list of subjects"],
    ["duplicate subject in a queue", q({ subjects: ["a", "a"] }), `queues.demo.subjects[1]: duplicate subject "a"`],
    ["admin.listen without port", { admin: { listen: "9464" } }, `admin.listen: expected host:port (e.g. 127.0.0.1:9464), got "9464"`],
    ["admin.listen port out of range", { admin: { listen: "localhost:70000" } }, `admin.listen: expected host:port (e.g. 127.0.0.1:9464), got "localhost:70000"`],
    ["empty nats.url", { nats: { url: " " } }, `nats.url: expected a NATS server URL such as nats://127.0.0.1:4222, got " "`],
    ["a bad server in nats.url", { nats: { url: "nats://a:4222,not a url" } }, `nats.url: expected a NATS server URL such as nats://127.0.0.1:4222, got "not a url"`],
    ["a bad server in a nats.url list", { nats: { url: ["nats://a:4222", "nats://b:x"] } }, `nats.url[1]: expected a NATS server URL such as nats://127.0.0.1:4222, got "nats://b:x"`],
    ["an empty nats.url list", { nats: { url: [] } }, "nats.url: expected a non-empty list of NATS server URLs"],
    ["replicas 2", q({ replicas: 2 }), "queues.demo.replicas: expected 1, 3 or 5, got 2"],
    ["jetstream.replicas 7", { jetstream: { replicas: 7 } }, "jetstream.replicas: expected 1, 3 or 5, got 7"],
    ["placement without the swarm driver", q({ placement: { constraints: ["node.role==worker"] } }), "queues.demo.placement: only the swarm driver places workers on nodes (runtime.driver is docker)"],
    ["a placement preference that is not spread=", { runtime: { driver: "swarm" }, ...q({ placement: { preferences: ["zone"] } }) }, `queues.demo.placement.preferences[0]: expected spread=<node attribute> (e.g. spread=node.labels.zone), got "zone"`],
    ["missing image for swarm", { runtime: { driver: "swarm" }, queues: { demo: {} } }, "queues.demo.image: required when runtime.driver is swarm"],
    ["privileged with swarm", { runtime: { driver: "swarm", docker: { allowPrivileged: true } }, ...q({ privileged: true }) }, "queues.demo.privileged: Swarm has no privileged services (runtime.driver is swarm)"],
    ["a queue name too long for swarm", { runtime: { driver: "swarm" }, queues: { ["q".repeat(50)]: { image: "x" } } }, `queues.${"q".repeat(50)}: too long for the swarm driver: its services are named jetscale-[<deployment>-]<queue>-<8-character id>, at most 63 characters (Swarm's limit)`],
    ["a lease under 1s", { scaler: { lease: "500ms" } }, "scaler.lease: expected a duration >= 1s, got 500ms"],
    ["an unknown signal", q({ signals: ["backlog", "cpu"] }), `queues.demo.signals[1]: expected "backlog", "waitTime", "utilization" or "rate", got "cpu"`],
    ["no signals", q({ signals: [] }), "queues.demo.signals: expected a non-empty list of signals (backlog, waitTime, utilization, rate)"],
    ["a signal twice", q({ signals: ["rate", "rate"] }), `queues.demo.signals: expected each signal once, got ["rate","rate"]`],
    ["scaleUpAt above 1", q({ scaleUpAt: 1.5 }), "queues.demo.scaleUpAt: expected a number in (0, 1], got 1.5"],
    ["scaleDownAt not below scaleUpAt", q({ scaleUpAt: 0.5, scaleDownAt: 0.6 }), "queues.demo.scaleDownAt: expected a number below scaleUpAt (0.5), got 0.6"],
    ["default scaleUpAt under scaleDownAt", q({ scaleDownAt: 0.9 }), "queues.demo.scaleDownAt: expected a number below scaleUpAt (0.8), got 0.9"],
    ["a bad step up", q({ step: { up: "triple" } }), `queues.demo.step.up: expected jump, double or add <n> (n an integer >= 1), got "triple"`],
    ["add 0", q({ step: { up: "add 0" } }), `queues.demo.step.up: expected jump, double or add <n> (n an integer >= 1), got "add 0"`],
    ["a bad step down", q({ step: { down: "all" } }), `queues.demo.step.down: expected "one", "half" or "jump", got "all"`],
    ["zero smoothing", q({ smoothing: "0s" }), "queues.demo.smoothing: expected a duration > 0, got 0s"],
    ["a fractional priority", q({ priority: 1.5 }), "queues.demo.priority: expected an integer, got 1.5"],
    ["an unknown mode", q({ mode: "batch" }), `queues.demo.mode: expected "worker" or "job", got "batch"`],
    ["job mode with idle: suspend", q({ mode: "job", idle: "suspend" }), "queues.demo.idle: mode: job has no idle replicas to suspend (each job's worker exits when it ends)"],
    ["job mode with a schedule", q({ mode: "job", schedule: [{ cron: "0 8 * * *", minReplicas: 1, for: "1h" }] }), "queues.demo.schedule: mode: job starts a worker per job, so there is no floor of replicas to schedule"],
    ["a schedule above maxReplicas", q({ maxReplicas: 3, schedule: [{ cron: "0 8 * * 1-5", minReplicas: 4, for: "9h" }] }), "queues.demo.schedule[0].minReplicas: expected an integer <= maxReplicas (3), got 4"],
    ["a schedule for longer than a week", q({ schedule: [{ cron: "0 8 * * 1-5", minReplicas: 1, for: "8d" }] }), "queues.demo.schedule[0].for: expected a duration of at most 7d, got 8d"],
    ["a schedule without for", q({ schedule: [{ cron: "0 8 * * *", minReplicas: 1 }] }), "queues.demo.schedule[0].for: required"],
    ["an unknown time zone", q({ schedule: [{ cron: "0 8 * * *", minReplicas: 1, for: "1h", timezone: "Mars/Olympus" }] }), `queues.demo.schedule[0].timezone: unknown time zone "Mars/Olympus"`],
    ["an unknown scaler time zone", { scaler: { timezone: "Nowhere" } }, `scaler.timezone: unknown time zone "Nowhere"`],
    ["a budget of 0", { scaler: { maxReplicas: 0 } }, "scaler.maxReplicas: expected an integer >= 1, got 0"],
    ["a budget under the queues' floors", { scaler: { maxReplicas: 3 }, queues: { a: { image: "x", minReplicas: 2 }, b: { image: "x", minReplicas: 2 } } }, "scaler.maxReplicas: expected an integer >= the queues' minReplicas together (4), got 3"],
    ["queues as a list", { queues: ["demo"] }, "queues: expected a mapping, got a list"],
    ["queue without a body", { runtime: { driver: "process" }, queues: { demo: null } }, "queues.demo: expected a mapping, got null"],
    ["document not a mapping", "hello", `expected a mapping, got "hello"`]
  ])("%s", ([, value, line]) =>
    Effect.map(problemsOf(value), (problems) => assert.deepStrictEqual(problems, [line])))
})

describe("decodeConfig: backoff", () => {
  it.effect.each<readonly [string, unknown, ReturnType<typeof backoffMs>]>([
    ["default", undefined, { _tag: "list", delays: [1000, 5000, 30_000] }],
    ["one-entry list", ["2s"], { _tag: "list", delays: [2000] }],
    ["list", ["250ms", "2s", "1h"], { _tag: "list", delays: [250, 2000, 3_600_000] }],
    ["mapping with only initial", { initial: "1s" }, { _tag: "exponential", initial: 1000, max: 60_000, factor: 2, jitter: 0.2 }],
    ["full mapping", { initial: "500ms", max: "2m", factor: 3, jitter: 0 }, { _tag: "exponential", initial: 500, max: 120_000, factor: 3, jitter: 0 }],
    ["max = initial, factor 1", { initial: "1m", max: "1m", factor: 1 }, { _tag: "exponential", initial: 60_000, max: 60_000, factor: 1, jitter: 0.2 }],
    ["fractional factor and jitter", { initial: "1s", factor: 1.5, jitter: 0.99 }, { _tag: "exponential", initial: 1000, max: 60_000, factor: 1.5, jitter: 0.99 }]
  ])("%s", ([, backoff, expected]) =>
    Effect.map(
      decodeConfig(q(backoff === undefined ? {} : { backoff }), {}),
      (c) => assert.deepStrictEqual(backoffMs(c.queues[0]!.backoff), expected)
    ))

  it.effect("reports every problem of a backoff mapping, in file order", () =>
    Effect.map(
      problemsOf(q({ backoff: { retries: 1, initial: "0s", max: "x", factor: 0, jitter: 2 } })),
      (problems) => assert.deepStrictEqual(problems, [
        "queues.demo.backoff.retries: unknown key",
        "queues.demo.backoff.initial: expected a duration > 0, got 0s",
        `queues.demo.backoff.max: invalid duration "x" (use 30s, 5m, 250ms)`,
        "queues.demo.backoff.factor: expected a number >= 1, got 0",
        "queues.demo.backoff.jitter: expected a number in [0, 1), got 2"
      ])
    ))

  it.effect("checks max >= initial next to other problems of the mapping", () =>
    Effect.map(
      problemsOf(q({ backoff: { initial: "1m", max: "10s", jitter: 1 } })),
      (problems) => assert.deepStrictEqual(problems, [
        "queues.demo.backoff.max: expected a duration >= initial (1m), got 10s",
        "queues.demo.backoff.jitter: expected a number in [0, 1), got 1"
      ])
    ))

  it.live("loads the mapping form from YAML (block and flow)", () =>
    Effect.gen(function*() {
      const path = writeConfig("backoff.yaml", [
        "queues:",
        "  block:",
        "    image: x",
        "    backoff:",
        "      initial: 250ms",
        "      max: 30s",
        "      factor: 2.5",
        "      jitter: 0.1",
        "  flow:",
        "    image: x",
        "    backoff: { initial: 1s }",
        ""
      ].join("\n"))
      const config = yield* loadConfig(path, {})
      assert.deepStrictEqual(config.queues.map((q) => backoffMs(q.backoff)), [
        { _tag: "exponential", initial: 250, max: 30_000, factor: 2.5, jitter: 0.1 },
        { _tag: "exponential", initial: 1000, max: 60_000, factor: 2, jitter: 0.2 }
      ])
    }))
})

describe("decodeConfig: bounded storage (logs, dlq)", () => {
  const mib = 1024 ** 2
  it.effect("defaults: logs.maxBytes 1g, logs.linesPerSecond 100, dlq.maxBytes 1g", () =>
    Effect.map(decodeConfig({}, {}), (c) => {
      assert.deepStrictEqual({ ...c.logs, maxAge: ms(c.logs.maxAge) }, { maxAge: 86_400_000, maxBytes: 1024 * mib, linesPerSecond: 100 })
      assert.deepStrictEqual(c.dlq, { maxBytes: 1024 * mib })
    }))

  it.live("loads sizes and a rate from YAML", () =>
    Effect.gen(function*() {
      const path = writeConfig("bounded.yaml", "logs: { maxAge: 1h, maxBytes: 256m, linesPerSecond: 20 }\ndlq:\n  maxBytes: 2G\nqueues: {}\n")
      const c = yield* loadConfig(path, {})
      assert.deepStrictEqual({ maxBytes: c.logs.maxBytes, linesPerSecond: c.logs.linesPerSecond }, { maxBytes: 256 * mib, linesPerSecond: 20 })
      assert.strictEqual(c.dlq.maxBytes, 2048 * mib)
      assert.strictEqual((yield* decodeConfig({ dlq: { maxBytes: mib } }, {})).dlq.maxBytes, mib)
    }))

  it.effect.each<readonly [string, unknown, string]>([
    ["logs.maxBytes not a size", { logs: { maxBytes: "lots" } }, `logs.maxBytes: invalid size "lots" (use 512k, 256m, 1g)`],
    ["logs.maxBytes under 1m", { logs: { maxBytes: "512k" } }, "logs.maxBytes: expected a size >= 1m, got 512k"],
    ["logs.maxBytes 0", { logs: { maxBytes: 0 } }, "logs.maxBytes: expected a size >= 1m, got 0"],
    ["logs.maxBytes a list", { logs: { maxBytes: ["1g"] } }, "logs.maxBytes: expected a size like 256m, 1g or 512k, got a list"],
    ["logs.linesPerSecond 0", { logs: { linesPerSecond: 0 } }, "logs.linesPerSecond: expected an integer >= 1, got 0"],
    ["logs.linesPerSecond fractional", { logs: { linesPerSecond: 2.5 } }, "logs.linesPerSecond: expected an integer >= 1, got 2.5"],
    ["logs.linesPerSecond a string", { logs: { linesPerSecond: "fast" } }, `logs.linesPerSecond: expected an integer >= 1, got "fast"`],
    ["typo in logs", { logs: { linesPerSec: 10 } }, "logs.linesPerSec: unknown key (did you mean linesPerSecond?)"],
    ["dlq.maxBytes negative", { dlq: { maxBytes: -1 } }, "dlq.maxBytes: invalid size -1 (use 512k, 256m, 1g)"],
    ["dlq.maxBytes under 1m", { dlq: { maxBytes: "1000" } }, "dlq.maxBytes: expected a size >= 1m, got 1000"],
    ["typo in dlq", { dlq: { maxbytes: "1g" } }, "dlq.maxbytes: unknown key (did you mean maxBytes?)"],
    ["dlq not a mapping", { dlq: "1g" }, `dlq: expected a mapping, got "1g"`]
  ])("%s", ([, value, line]) =>
    Effect.map(problemsOf(value), (problems) => assert.deepStrictEqual(problems, [line])))

  it.effect("every bad value at once, one line each", () =>
    Effect.map(problemsOf({ logs: { maxBytes: "1k", linesPerSecond: -3 }, dlq: { maxBytes: "huge" } }), (problems) =>
      assert.deepStrictEqual(problems, [
        "logs.maxBytes: expected a size >= 1m, got 1k",
        "logs.linesPerSecond: expected an integer >= 1, got -3",
        `dlq.maxBytes: invalid size "huge" (use 512k, 256m, 1g)`
      ])))
})

describe("decodeConfig: queue names", () => {
  it.effect("names that merely contain a reserved word are fine", () =>
    Effect.map(
      decodeConfig({ queues: { "dlq-replay": { image: "x" }, logs2: { image: "x" }, "app-errors": { image: "x" } } }, {}),
      (c) => assert.deepStrictEqual(c.queues.map((q) => q.stream), ["JETSCALE_DLQ_REPLAY", "JETSCALE_LOGS2", "JETSCALE_APP_ERRORS"])
    ))
})

describe("decodeConfig: subjects shared between queues", () => {
  it.effect.each<readonly [string, Record<string, unknown>, string]>([
    ["same explicit subject", { a: { subjects: ["jobs.x"] }, b: { subjects: ["jobs.y", "jobs.x"] } }, `queues.b.subjects[1]: subject "jobs.x" is also used by queue a`],
    ["explicit subject = another's default", { a: {}, b: { subjects: ["jobs.a"] } }, `queues.b.subjects[0]: subject "jobs.a" is also used by queue a`],
    ["default subject = an earlier explicit one", { a: { subjects: ["jobs.b"] }, b: {} }, `queues.b.subjects: subject "jobs.b" is also used by queue a`],
    ["wildcard overlap", { a: { subjects: ["jobs.*"] }, b: { subjects: ["jobs.b"] } }, `queues.b.subjects[0]: subject "jobs.b" overlaps "jobs.*" of queue a`],
    ["> overlap", { a: { subjects: ["jobs.a.x"] }, b: { subjects: ["jobs.>"] } }, `queues.b.subjects[0]: subject "jobs.>" overlaps "jobs.a.x" of queue a`]
  ])("%s", ([, queues, line]) => {
    const withImages = Object.fromEntries(Object.entries(queues).map(([k, v]) => [k, { image: "x", ...(v as object) }]))
    return Effect.map(problemsOf({ queues: withImages }), (problems) => assert.deepStrictEqual(problems, [line]))
  })

  it.effect("non-overlapping wildcards are fine", () =>
    Effect.map(
      decodeConfig({ queues: { a: { image: "x", subjects: ["jobs.a.*"] }, b: { image: "x", subjects: ["jobs.b.>"] } } }, {}),
      (c) => assert.strictEqual(c.queues.length, 2)
    ))
})

const BAD = `runtime:
  driver: podman
queues:
  Bad_Name:
    image: x
  demo:
    maxReplica: 3
    maxReplicas: -1
    idleTimeout: soon
    backoff: [1s, 2, never]
    limits: { memory: lots, cpus: 0 }
`

describe("loadConfig: failures", () => {
  it.live("reports every problem of a bad file, in file order", () =>
    Effect.gen(function*() {
      const path = writeConfig("bad.yaml", BAD)
      const error = yield* Effect.flip(loadConfig(path, {}))
      assert.strictEqual(error._tag, "ConfigLoadError")
      assert.strictEqual(error.kind, "invalid")
      assert.deepStrictEqual(error.problems, [
        `runtime.driver: expected "docker", "process" or "swarm", got "podman"`,
        "queues.Bad_Name: queue name must match [a-z0-9][a-z0-9-]*",
        "queues.demo.maxReplica: unknown key (did you mean maxReplicas?)",
        "queues.demo.maxReplicas: expected an integer >= minReplicas (0), got -1",
        `queues.demo.idleTimeout: invalid duration "soon" (use 30s, 5m, 250ms)`,
        "queues.demo.backoff[1]: expected a duration like 30s, 5m or 250ms, got 2",
        `queues.demo.backoff[2]: invalid duration "never" (use 30s, 5m, 250ms)`,
        `queues.demo.limits.memory: invalid size "lots" (use 512k, 256m, 1g)`,
        "queues.demo.limits.cpus: expected a number > 0, got 0"
      ])
      assert.strictEqual(formatConfigError(error), [`config file ${path} is invalid (9 problems):`, ...error.problems].join("\n"))
      assert.strictEqual(error.message, formatConfigError(error))
    }))

  it.live("reports the docker image requirement next to schema problems", () =>
    Effect.map(
      Effect.flip(loadConfig(writeConfig("bad2.yaml", "queues:\n  demo:\n    maxReplica: 3\n"), {})),
      (e) => assert.deepStrictEqual(e.problems, [
        "queues.demo.maxReplica: unknown key (did you mean maxReplicas?)",
        "queues.demo.image: required when runtime.driver is docker"
      ])
    ))

  it.live("missing file: one line", () =>
    Effect.gen(function*() {
      const path = join(dir, "nope", "jetscale.yaml")
      const error = yield* Effect.flip(loadConfig(path, {}))
      assert.strictEqual(error.kind, "missing-file")
      assert.deepStrictEqual(error.problems, [`config file not found: ${path}`])
      assert.strictEqual(formatConfigError(error), `config file not found: ${path}`)
    }))

  it.live("a directory is unreadable, not missing", () =>
    Effect.gen(function*() {
      const path = join(dir, "adir")
      mkdirSync(path, { recursive: true })
      const error = yield* Effect.flip(loadConfig(path, {}))
      assert.strictEqual(error.kind, "unreadable")
      expect(error.message).toMatch(new RegExp(`^cannot read config file ${path}: `))
    }))

  it.live.each<readonly [string, string, string]>([
    ["unclosed flow sequence", "nats:\n  url: nats://x\nqueues: [a\n", "4:1: Flow sequence in block collection must be sufficiently indented and end with a ]"],
    ["bad indentation", "nats:\n  url: x\n   bad: 1\n", "2:8: Nested mappings are not allowed in compact mappings"],
    ["duplicate queue", "queues:\n  demo:\n    image: x\n  demo: {}\n", "4:3: Map keys must be unique"]
  ])("bad YAML (%s): one file:line:col line", ([name, text, rest]) =>
    Effect.gen(function*() {
      const path = writeConfig(`${name.replaceAll(" ", "-")}.yaml`, text)
      const error: ConfigLoadError = yield* Effect.flip(loadConfig(path, {}))
      assert.strictEqual(error.kind, "bad-yaml")
      assert.deepStrictEqual(error.problems, [`${path}:${rest}`])
    }))

  it.live("errors are catchable by tag", () =>
    loadConfig(join(dir, "missing.yaml"), {}).pipe(
      Effect.catchTag("ConfigLoadError", (e) => Effect.succeed(e.kind)),
      Effect.map((kind) => assert.strictEqual(kind, "missing-file"))
    ))
})

describe("decodeConfig: scaling policies", () => {
  it.effect("defaults: backlog only, step up jump and down half, priority 0, no schedule, worker mode, UTC", () =>
    Effect.gen(function*() {
      const c = yield* decodeConfig(q({}), {})
      const demo = c.queues[0]!
      assert.deepStrictEqual(demo.signals, ["backlog"])
      assert.deepStrictEqual(demo.step, { up: { _tag: "jump" }, down: "half" })
      assert.deepStrictEqual([ms(demo.targetWait), demo.scaleUpAt, demo.scaleDownAt, demo.priority, demo.mode], [10_000, 0.8, 0.2, 0, "worker"])
      assert.deepStrictEqual(demo.schedule, [])
      assert.strictEqual(demo.smoothing, undefined)
      assert.strictEqual(c.scaler.timezone, "UTC")
      assert.strictEqual(c.scaler.maxReplicas, undefined)
    }))
  it.effect("every key set", () =>
    Effect.gen(function*() {
      const c = yield* decodeConfig({
        scaler: { maxReplicas: 12, timezone: "Europe/Berlin" },
        queues: {
          demo: {
            image: "x", signals: ["waitTime", "utilization", "rate"], targetWait: "5s", scaleUpAt: 0.9, scaleDownAt: 0.1, smoothing: "30s",
            step: { up: "add 2", down: "one" }, priority: 5, mode: "worker",
            schedule: [{ cron: "0 8 * * 1-5", minReplicas: 2, for: "9h" }, { cron: "*/15 * * * *", minReplicas: 1, for: "5m", timezone: "America/New_York" }]
          }
        }
      }, {})
      const demo = c.queues[0]!
      assert.deepStrictEqual(demo.signals, ["waitTime", "utilization", "rate"])
      assert.deepStrictEqual(demo.step, { up: { _tag: "add", n: 2 }, down: "one" })
      assert.deepStrictEqual([ms(demo.targetWait), demo.scaleUpAt, demo.scaleDownAt, ms(demo.smoothing!), demo.priority, demo.mode], [5000, 0.9, 0.1, 30_000, 5, "worker"])
      assert.deepStrictEqual(demo.schedule.map((e) => [e.cron, e.minReplicas, ms(e.for), e.timezone]), [
        ["0 8 * * 1-5", 2, 9 * 3600_000, undefined],
        ["*/15 * * * *", 1, 300_000, "America/New_York"]
      ])
      assert.deepStrictEqual([c.scaler.maxReplicas, c.scaler.timezone], [12, "Europe/Berlin"])
    }))
  it.effect("a bad cron names the entry and the field", () =>
    Effect.map(problemsOf(q({ schedule: [{ cron: "0 25 * * *", minReplicas: 1, for: "1h" }] })), (problems) => {
      assert.strictEqual(problems.length, 1)
      expect(problems[0]).toMatch(/^queues\.demo\.schedule\[0\]\.cron: .*hour.*25/)
    }))
})
