// Docker driver (dockerode): one labelled container per worker, removed only after it has exited
// and its demultiplexed log stream has ended. Never touches a container without jetscale's labels.
import Docker from "dockerode"
import { Duration, Effect, Layer } from "effect"
import { PassThrough } from "node:stream"
import { labels } from "../jetstream/names.ts"
import { describe } from "../nats/connection.ts"
import { lineSplitter, Runtime, RuntimeError, type LogLine, type RuntimeDriver, type WorkerInfo, type WorkerSpec } from "./driver.ts"

export interface DockerDriverOptions {
  readonly network: string
  readonly socketPath?: string
  readonly onLog?: (line: LogLine) => void
}

const containerName = (queue: string, instance: string) => `jetscale-${queue}-${instance}`
/** Extra time docker gives a worker past its own stopTimeout, so the worker's timer fires first. */
const killMarginSeconds = 2

const statusCode = (e: unknown): number | undefined => (e as { statusCode?: number }).statusCode

const call = <A>(what: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (cause) => new RuntimeError({ message: `docker: ${what}: ${describe(cause)}`, cause }) })

const toInfo = (c: Docker.ContainerInfo): WorkerInfo => {
  const exited = /^Exited \((-?\d+)\)/.exec(c.Status)
  return {
    instance: c.Labels[labels.instance] ?? c.Id.slice(0, 12),
    queue: c.Labels[labels.queue] ?? "",
    name: (c.Names[0] ?? c.Id).replace(/^\//, ""),
    state: c.State === "running" || c.State === "created" || c.State === "restarting" ? "running" : "exited",
    exitCode: exited ? Number(exited[1]) : null,
    startedAt: c.Created * 1000
  }
}

const parseEnv = (env: Readonly<Record<string, string>>) => Object.entries(env).map(([k, v]) => `${k}=${v}`)

/** The docker driver over an engine reachable at `socketPath` (default: DOCKER_HOST or the local socket). */
export const makeDockerDriver = (options: DockerDriverOptions): RuntimeDriver => {
  const docker = new Docker(options.socketPath ? { socketPath: options.socketPath } : undefined)
  // Log streams we follow, by container name; a container is removed only once its stream has ended.
  const logEnds = new Map<string, Promise<void>>()
  const onLog = options.onLog ?? (() => {})

  const follow = (name: string, queue: string, instance: string, since?: number) => {
    if (logEnds.has(name)) return
    const ended = (async () => {
      const raw = await docker.getContainer(name).logs({ follow: true, stdout: true, stderr: true, ...(since ? { since } : {}) })
      const out = lineSplitter((line) => onLog({ queue, instance, stream: "stdout", line }))
      const err = lineSplitter((line) => onLog({ queue, instance, stream: "stderr", line }))
      const stdout = new PassThrough().on("data", out.push)
      const stderr = new PassThrough().on("data", err.push)
      docker.modem.demuxStream(raw, stdout, stderr)
      await new Promise<void>((resolve) => {
        raw.on("end", resolve)
        raw.on("close", resolve)
        raw.on("error", () => resolve())
      })
      out.end()
      err.end()
    })().catch(() => {})
    logEnds.set(name, ended)
  }

  const awaitLogs = (name: string) => Effect.promise(async () => {
    const ended = logEnds.get(name)
    if (ended) await Promise.race([ended, new Promise((r) => setTimeout(r, 10_000))])
    logEnds.delete(name)
  })

  const removeContainer = (name: string) =>
    awaitLogs(name).pipe(Effect.andThen(call(`remove ${name}`, () => docker.getContainer(name).remove({ v: true }).catch((e) => {
      if (statusCode(e) !== 404) throw e
    }))))

  const list: RuntimeDriver["list"] = (queue) =>
    call("list containers", () => docker.listContainers({
      all: true,
      filters: { label: [`${labels.managed}=true`, ...(queue ? [`${labels.queue}=${queue}`] : [])] }
    })).pipe(Effect.map((cs) => {
      const infos = cs.map(toInfo)
      // Adopted workers: follow their output from now on.
      for (const w of infos) if (w.state === "running") follow(w.name, w.queue, w.instance, Math.floor(Date.now() / 1000))
      return infos
    }))

  const start = (spec: WorkerSpec) => Effect.gen(function*() {
    const q = spec.queue
    const name = containerName(q.name, spec.instance)
    if (!q.image) return yield* new RuntimeError({ message: `queues.${q.name}.image: required by the docker driver` })
    const create = () => docker.createContainer({
      name,
      Image: q.image!,
      ...(q.command ? { Cmd: [...q.command] } : {}),
      Env: parseEnv(spec.env),
      Labels: { [labels.managed]: "true", [labels.queue]: q.name, [labels.instance]: spec.instance },
      StopTimeout: Math.ceil(Duration.toSeconds(q.stopTimeout)) + killMarginSeconds,
      HostConfig: {
        NetworkMode: options.network,
        RestartPolicy: { Name: "no" },
        // docker-init as PID 1: forwards SIGTERM to the worker and reaps zombies.
        Init: true,
        ...(q.limits.memoryBytes ? { Memory: q.limits.memoryBytes } : {}),
        ...(q.limits.cpus ? { NanoCpus: Math.round(q.limits.cpus * 1e9) } : {}),
        ...(q.limits.pids ? { PidsLimit: q.limits.pids } : {})
      }
    })
    const container = yield* Effect.tryPromise({
      try: create,
      catch: (cause) => new RuntimeError({
        message: statusCode(cause) === 404
          ? `docker: image ${q.image} not found locally for queue ${q.name} (build it, e.g. npm run images)`
          : `docker: create ${name}: ${describe(cause)}`,
        cause
      })
    })
    yield* call(`start ${name}`, () => container.start())
    follow(name, q.name, spec.instance)
    return { instance: spec.instance, queue: q.name, name, state: "running", exitCode: null, startedAt: Date.now() } satisfies WorkerInfo
  })

  const stop: RuntimeDriver["stop"] = (queue, instance, grace) => {
    const name = containerName(queue, instance)
    const t = Math.ceil(Duration.toSeconds(grace)) + killMarginSeconds
    return call(`stop ${name}`, () => docker.getContainer(name).stop({ t }).catch((e) => {
      // 304: already stopped; 404: already gone.
      if (statusCode(e) !== 304 && statusCode(e) !== 404) throw e
    })).pipe(Effect.andThen(removeContainer(name)))
  }

  return {
    name: "docker",
    list,
    start,
    stop,
    remove: (queue, instance) => removeContainer(containerName(queue, instance)),
    ping: call("ping", () => docker.ping()).pipe(Effect.asVoid)
  }
}

export const layer = (options: DockerDriverOptions) => Layer.succeed(Runtime, Runtime.of(makeDockerDriver(options)))
