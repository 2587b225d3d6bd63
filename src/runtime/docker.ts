// Docker driver (dockerode): one labelled container per worker, removed only after it has exited
// and its demultiplexed log stream has ended. Never touches a container without jetscale's labels.
import Docker from "dockerode"
import { Duration, Effect, Layer } from "effect"
import { PassThrough } from "node:stream"
import { containerName, defaultDeployment, labels } from "../jetstream/names.ts"
import { attemptWith, describe } from "../effect/attempt.ts"
import { drainSignal, lineSplitter, resumeSignal, suspendSignal, Runtime, RuntimeError, type LogLine, type RuntimeDriver, type WorkerInfo, type WorkerSpec } from "./driver.ts"

export interface DockerDriverOptions {
  readonly network: string
  /** Only this deployment's containers are listed, adopted and touched (default: `default`). */
  readonly deployment?: string
  readonly socketPath?: string
  /** When set, the driver follows every worker's output (started or adopted) into this sink. */
  readonly onLog?: (line: LogLine) => void
}

/** Extra time docker gives a worker past its own stopTimeout, so the worker's timer fires first. */
const killMarginSeconds = 2
/** How long a removal waits for the end of a log stream before it goes ahead anyway. */
const logEndTimeoutMs = 10_000

/** Set by Swarm on the containers of its tasks. */
const swarmServiceLabel = "com.docker.swarm.service.id"

const statusCode = (e: unknown): number | undefined => (e as { statusCode?: number }).statusCode

const call = attemptWith((message, cause) => new RuntimeError({ message: `docker: ${message}`, cause }))

/**
 * Only containers carrying all of jetscale's labels, of this deployment, are its workers; the rest
 * are not ours (a container from before deployments existed belongs to the default one).
 */
const toInfo = (deployment: string) => (c: Docker.ContainerInfo): WorkerInfo | undefined => {
  const instance = c.Labels[labels.instance]
  const queue = c.Labels[labels.queue]
  if (c.Labels[labels.managed] !== "true" || !instance || !queue) return undefined
  // A Swarm task's container carries the same labels: it belongs to the swarm driver (./swarm.ts).
  if (c.Labels[swarmServiceLabel] !== undefined) return undefined
  if ((c.Labels[labels.deployment] ?? defaultDeployment) !== deployment) return undefined
  const exited = /^Exited \((-?\d+)\)/.exec(c.Status)
  return {
    id: c.Id,
    instance,
    queue,
    name: (c.Names[0] ?? c.Id).replace(/^\//, ""),
    // `created` is a container that never started (its start failed, or a scaler died in between).
    state: c.State === "running" || c.State === "restarting" ? "running" : c.State === "paused" ? "paused" : "exited",
    exitCode: exited ? Number(exited[1]) : null,
    startedAt: c.Created * 1000
  }
}

/**
 * Least privilege for workers: read-only root filesystem with a small tmpfs on /tmp, no new
 * privileges, every capability dropped, no host mounts but the queue's `mounts`. A queue may ask for `privileged` only when
 * the config allows it (runtime.docker.allowPrivileged); then docker's privileged mode replaces this.
 */
const hardening = (privileged: boolean) => privileged
  ? { Privileged: true }
  : {
    Privileged: false,
    ReadonlyRootfs: true,
    Tmpfs: { "/tmp": "rw,noexec,nosuid,size=64m" },
    SecurityOpt: ["no-new-privileges"],
    CapDrop: ["ALL"]
  }

/** Images whose user is root (or unset) run their workers as nobody. */
export const nonRootUser = "65534:65534"
const isRoot = (user: string) => user === "" || /^(0|root)(:|$)/.test(user)

const envList = (env: Readonly<Record<string, string>>) => Object.entries(env).map(([k, v]) => `${k}=${v}`)

/** The docker driver over an engine reachable at `socketPath` (default: DOCKER_HOST or the local socket). */
export const makeDockerDriver = (options: DockerDriverOptions): RuntimeDriver => {
  const docker = new Docker(options.socketPath ? { socketPath: options.socketPath } : undefined)
  const deployment = options.deployment ?? defaultDeployment
  // Log streams we follow, by container id; a container is removed only once its stream has ended.
  const logEnds = new Map<string, Promise<void>>()
  const onLog = options.onLog

  const follow = (w: WorkerInfo, since?: number) => {
    if (!onLog || logEnds.has(w.id)) return
    const ended = (async () => {
      const raw = await docker.getContainer(w.id).logs({ follow: true, stdout: true, stderr: true, ...(since ? { since } : {}) })
      const out = lineSplitter((line) => onLog({ queue: w.queue, instance: w.instance, stream: "stdout", line }))
      const err = lineSplitter((line) => onLog({ queue: w.queue, instance: w.instance, stream: "stderr", line }))
      docker.modem.demuxStream(raw, new PassThrough().on("data", out.push), new PassThrough().on("data", err.push))
      await new Promise<void>((resolve) => {
        raw.on("end", resolve)
        raw.on("close", resolve)
        raw.on("error", () => resolve())
      })
      out.end()
      err.end()
    })().catch(() => {})
    logEnds.set(w.id, ended)
  }

  const awaitLogs = (id: string) => Effect.promise(async () => {
    const ended = logEnds.get(id)
    if (ended) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([ended, new Promise((r) => { timer = setTimeout(r, logEndTimeoutMs) })])
      clearTimeout(timer)
    }
    logEnds.delete(id)
  })

  const removeContainer = (w: WorkerInfo) =>
    awaitLogs(w.id).pipe(Effect.andThen(call(`remove ${w.name}`, () => docker.getContainer(w.id).remove({ v: true }).catch((e) => {
      if (statusCode(e) !== 404) throw e
    }))))

  const list: RuntimeDriver["list"] = (queue) =>
    call("list containers", () => docker.listContainers({
      all: true,
      filters: { label: [`${labels.managed}=true`, ...(queue ? [`${labels.queue}=${queue}`] : [])] }
    })).pipe(Effect.map((cs) => {
      const infos = cs.flatMap((c) => toInfo(deployment)(c) ?? [])
      // Adopted workers: follow their output from now on.
      for (const w of infos) if (w.state !== "exited") follow(w, Math.floor(Date.now() / 1000))
      return infos
    }))

  // The user an image runs as, by image: looked up once, so cold starts don't pay for it twice.
  const imageUsers = new Map<string, string | undefined>()
  const workerUser = (image: string) => Effect.promise(async () => {
    if (!imageUsers.has(image)) {
      const user = await docker.getImage(image).inspect().then((i) => i.Config?.User ?? "", () => undefined)
      if (user !== undefined) imageUsers.set(image, isRoot(user) ? nonRootUser : undefined)
      return user === undefined ? undefined : isRoot(user) ? nonRootUser : undefined
    }
    return imageUsers.get(image)
  })

  const createError = (q: WorkerSpec["queue"], name: string) => (cause: unknown) => {
    const text = describe(cause)
    return new RuntimeError({
      message: statusCode(cause) === 404 && /image/i.test(text)
        ? `docker: image ${q.image} not found locally for queue ${q.name} (build it, e.g. npm run images)`
        : `docker: create ${name}: ${text}`,
      cause
    })
  }

  const start = (spec: WorkerSpec) => Effect.gen(function*() {
    const q = spec.queue
    const name = containerName(deployment, q.name, spec.instance)
    if (!q.image) return yield* new RuntimeError({ message: `queues.${q.name}.image: required by the docker driver` })
    const user = yield* workerUser(q.image)
    const container = yield* Effect.tryPromise({
      try: () => docker.createContainer({
        name,
        Image: q.image!,
        ...(q.command ? { Cmd: [...q.command] } : {}),
        Env: envList(spec.env),
        Labels: { [labels.managed]: "true", [labels.queue]: q.name, [labels.instance]: spec.instance, [labels.deployment]: deployment },
        StopTimeout: Math.ceil(Duration.toSeconds(q.stopTimeout)) + killMarginSeconds,
        ...(user ? { User: user } : {}),
        HostConfig: {
          NetworkMode: options.network,
          RestartPolicy: { Name: "no" },
          // docker-init as PID 1: forwards SIGTERM to the worker and reaps zombies.
          Init: true,
          ...hardening(q.privileged),
          ...(q.mounts.length > 0 ? { Mounts: q.mounts.map((m) => ({ Type: "bind" as const, Source: m.source, Target: m.target, ReadOnly: m.readOnly })) } : {}),
          ...(q.limits.memoryBytes ? { Memory: q.limits.memoryBytes } : {}),
          ...(q.limits.cpus ? { NanoCpus: Math.round(q.limits.cpus * 1e9) } : {}),
          ...(q.limits.pids ? { PidsLimit: q.limits.pids } : {})
        }
      }),
      catch: createError(q, name)
    })
    // A container that was created but could not start is removed at once, not left behind.
    yield* call(`start ${name}`, () => container.start()).pipe(
      Effect.tapError(() => Effect.promise(() => container.remove({ force: true }).catch(() => {})))
    )
    const info: WorkerInfo = { id: container.id, instance: spec.instance, queue: q.name, name, state: "running", exitCode: null, startedAt: Date.now() }
    follow(info)
    return info
  })

  const stop: RuntimeDriver["stop"] = (w, grace) => {
    const t = Math.ceil(Duration.toSeconds(grace)) + killMarginSeconds
    return (w.state === "paused" ? unpause(w) : Effect.void).pipe(
      Effect.andThen(call(`stop ${w.name}`, () => docker.getContainer(w.id).stop({ t }).catch((e) => {
        // 304: already stopped; 404: already gone.
        if (statusCode(e) !== 304 && statusCode(e) !== 404) throw e
      }))),
      Effect.andThen(removeContainer(w))
    )
  }

  /** Runs a container operation; 404 (gone) and 409 (not in a state for it) leave nothing to do. */
  const onContainer = (what: string, w: WorkerInfo, f: (c: Docker.Container) => Promise<unknown>) =>
    call(`${what} ${w.name}`, () => f(docker.getContainer(w.id)).catch((e) => {
      if (statusCode(e) !== 404 && statusCode(e) !== 409) throw e
    })).pipe(Effect.asVoid)

  const drain: RuntimeDriver["drain"] = (w) => onContainer("drain", w, (c) => c.kill({ signal: drainSignal }))
  // A paused container takes no signal: it is unpaused first (it stays cordoned until SIGCONT).
  const unpause = (w: WorkerInfo) => onContainer("unpause", w, (c) => c.unpause())

  return {
    name: "docker",
    list,
    start,
    stop,
    drain,
    suspend: (w) => onContainer("suspend", w, (c) => c.kill({ signal: suspendSignal })),
    freeze: (w) => onContainer("pause", w, (c) => c.pause()),
    thaw: (w) => unpause(w).pipe(Effect.andThen(onContainer("resume", w, (c) => c.kill({ signal: resumeSignal })))),
    remove: removeContainer,
    ping: call("ping", () => docker.ping()).pipe(Effect.asVoid)
  }
}

export const layer = (options: DockerDriverOptions) =>
  Layer.effect(Runtime, Effect.try({
    try: () => Runtime.of(makeDockerDriver(options)),
    catch: (cause) => new RuntimeError({ message: `docker: ${describe(cause)}`, cause })
  }))
