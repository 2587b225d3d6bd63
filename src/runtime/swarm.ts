// Swarm driver (dockerode, against the engine of a Swarm manager): one service per worker, one
// replica each, labelled like the docker driver's containers (service and container labels), so the
// replica a scale-in drains is the one the scaler picked, and a new driver adopts what runs.
// Swarm places the task on a node (the queue's `placement`); Swarm never restarts it: the scaler's
// crash-loop backoff decides about new starts. Output comes through the service logs API.
//
// Signals: Swarm's API has no "signal a task". A task on this manager's own node is reached through
// this engine (the drain's SIGUSR2, `docker stop` for a shutdown): exactly the docker driver's
// behaviour. A task on another node is drained through NATS (`drainOverNats`: the worker takes
// `drain` on jetscale.control.<queue>.<instance>, answers, finishes its jobs with no time limit and
// exits). A worker that does not answer (an SDK without it) can only be stopped by Swarm itself
// (the service scaled to zero: after ~2s, SIGTERM, then a kill stopTimeout + 2s later): a shutdown,
// not a drain (it finishes its jobs within stopTimeout and hands back the rest; nothing is lost, but
// a longer job runs again elsewhere; a log line says so), and what it prints after that SIGTERM may
// not reach the log sink (Swarm deletes the task, and its logs with it, once it has stopped).
// `idle: suspend` cannot freeze: Swarm cannot pause a task, so a suspended replica drains and exits
// instead (one log line per queue).
import Docker from "dockerode"
import { Clock, Duration, Effect, Layer } from "effect"
import { attemptWith, describe } from "../effect/attempt.ts"
import { containerName, defaultDeployment, labels } from "../jetstream/names.ts"
import { drainSignal, Runtime, RuntimeError, type DrainOverNats, type LogLine, type RuntimeDriver, type WorkerInfo, type WorkerSpec } from "./driver.ts"
import { makeSwarmLogs } from "./swarm-logs.ts"
import {
  currentTask, isLive, isRootUser, killMarginSeconds, maxServiceNameLength, nonRootUser, serviceSpec, taskProblem, workerOf,
  type SwarmService, type SwarmTask
} from "./swarm-spec.ts"

export interface SwarmDriverOptions {
  /** `runtime.docker.network`: `host`, `bridge`, or a swarm-scoped (overlay) network. */
  readonly network: string
  /** Only this deployment's services are listed, adopted and touched (default: `default`). */
  readonly deployment?: string
  /** A manager's engine (default: DOCKER_HOST or the local socket). */
  readonly socketPath?: string
  /** When set, the driver follows every worker's output (started or adopted) into this sink. */
  readonly onLog?: (line: LogLine) => void
  /** Treats every task as on another node than this manager's: tests the multi-node path on one node. */
  readonly allNodesRemote?: boolean
  /** How a worker on another node is drained (it takes the command from NATS); without it, or unanswered, Swarm stops it. */
  readonly drainOverNats?: DrainOverNats
}

const pollEvery = Duration.millis(100)
/** How long Swarm may take to report a task's end once its container has exited. */
const taskEndTimeoutMs = 15_000
/** Swarm's executor waits about this long (its gossip to converge) before it stops a task; then its grace period runs. */
const swarmStopDelayMs = 2_000

const statusCode = (e: unknown): number | undefined => (e as { statusCode?: number } | undefined)?.statusCode

const call = attemptWith((message, cause) => new RuntimeError({ message: `swarm: ${message}`, cause }))

/** A call whose 404 (gone already) and the given other statuses leave nothing to do. */
const tolerating = (what: string, f: () => Promise<unknown>, codes: ReadonlyArray<number> = []) =>
  call(what, () => f().catch((e) => {
    if (statusCode(e) !== 404 && !codes.includes(statusCode(e) ?? 0)) throw e
  })).pipe(Effect.asVoid)

/** Polls `probe` until it holds or `timeoutMs` has passed; whether it held. */
const pollUntil = <E>(probe: Effect.Effect<boolean, E>, timeoutMs: number) => Effect.gen(function*() {
  const deadline = (yield* Clock.currentTimeMillis) + timeoutMs
  while (!(yield* probe)) {
    if ((yield* Clock.currentTimeMillis) > deadline) return false
    yield* Effect.sleep(pollEvery)
  }
  return true
})

interface View {
  readonly service: SwarmService
  readonly task: SwarmTask | undefined
  readonly info: WorkerInfo
}

/** The swarm driver over a manager's engine; `close` ends the log follows (the layer calls it). */
export const makeSwarmDriver = (options: SwarmDriverOptions) => {
  const docker = new Docker(options.socketPath ? { socketPath: options.socketPath } : undefined)
  const deployment = options.deployment ?? defaultDeployment
  const logs = makeSwarmLogs(docker, options.onLog)
  // The problem last logged per service (a task waiting for a node...), so each is told once.
  const told = new Map<string, { readonly queue: string; readonly problem: string }>()
  const toldSuspend = new Set<string>()

  // This engine's node: tasks there are reached through this engine.
  let localNode: Promise<string | undefined> | undefined
  const localNodeId = Effect.promise(() => localNode ??= docker.info().then((i: { Swarm?: { NodeID?: string } }) => i.Swarm?.NodeID || undefined, () => {
    localNode = undefined
    return undefined
  }))

  const views = (queue?: string): Effect.Effect<ReadonlyArray<View>, RuntimeError> => Effect.gen(function*() {
    const filters = { label: [`${labels.managed}=true`, ...(queue ? [`${labels.queue}=${queue}`] : [])] }
    const services = (yield* call("list services", () => docker.listServices({ filters }))) as ReadonlyArray<SwarmService>
    // A service removed meanwhile makes the task list fail (404): the next attempt lists again.
    const tasks = services.length === 0 ? [] : (yield* call("list tasks", () => docker.listTasks({ filters: { service: services.map((s) => s.ID) } }))) as ReadonlyArray<SwarmTask>
    return services.flatMap((service) => {
      const task = currentTask(tasks.filter((t) => t.ServiceID === service.ID))
      const info = workerOf(deployment)(service, task)
      return info ? [{ service, task, info }] : []
    })
  }).pipe(Effect.retry({ times: 2, while: (e) => statusCode(e.cause) === 404 }))

  /** Logs a task's problem (waiting for a node, refused by Swarm) once, with the queue's name. */
  const tell = (v: View) => {
    const problem = taskProblem(v.service, v.task)
    if (problem === undefined) {
      told.delete(v.info.id)
      return Effect.void
    }
    if (told.get(v.info.id)?.problem === problem) return Effect.void
    told.set(v.info.id, { queue: v.info.queue, problem })
    return Effect.logWarning(`queue ${v.info.queue}: worker ${v.info.name} ${problem}`)
  }

  const list: RuntimeDriver["list"] = (queue) => Effect.gen(function*() {
    const listedAt = Date.now()
    const all = yield* views(queue)
    const ids = new Set(all.map((v) => v.info.id))
    logs.prune(queue, ids, listedAt)
    for (const [id, t] of told) if ((queue === undefined || t.queue === queue) && !ids.has(id)) told.delete(id)
    // Adopted workers: follow their output from now on.
    for (const v of all) if (v.info.state !== "exited") logs.follow(v.info, Math.floor(listedAt / 1000))
    yield* Effect.forEach(all, tell, { discard: true })
    return all.map((v) => v.info)
  })

  // The user an image runs as, by image, looked up once on this manager. An image the manager does
  // not have (its nodes pull it) cannot be checked: its workers run as nobody.
  const imageUsers = new Map<string, string | undefined>()
  const workerUser = (image: string) => Effect.promise(async () => {
    if (imageUsers.has(image)) return imageUsers.get(image)
    const user = await docker.getImage(image).inspect().then((i) => i.Config?.User ?? "", () => undefined)
    const run = isRootUser(user) ? nonRootUser : undefined
    if (user !== undefined) imageUsers.set(image, run)
    return run
  })

  const start = (spec: WorkerSpec) => Effect.gen(function*() {
    const q = spec.queue
    const name = containerName(deployment, q.name, spec.instance)
    if (!q.image) return yield* new RuntimeError({ message: `queues.${q.name}.image: required by the swarm driver` })
    if (q.privileged) return yield* new RuntimeError({ message: `queues.${q.name}.privileged: Swarm has no privileged services; the swarm driver cannot run this queue's workers` })
    if (name.length > maxServiceNameLength) {
      return yield* new RuntimeError({ message: `swarm: service name ${name} is longer than Swarm's ${maxServiceNameLength} characters: shorten the queue's (or the deployment's) name` })
    }
    const user = yield* workerUser(q.image)
    const service = serviceSpec(spec, { deployment, network: options.network, user })
    const created = yield* call(`create service ${name}`, () => docker.createService(service as unknown as Docker.CreateServiceOptions))
    const info: WorkerInfo = { id: created.id, instance: spec.instance, queue: q.name, name, state: "running", exitCode: null, startedAt: Date.now() }
    logs.follow(info)
    return info
  })

  /** The service's current task; undefined once the service or its task is gone. */
  const taskOf = (w: WorkerInfo) =>
    call(`tasks of ${w.name}`, () => docker.listTasks({ filters: { service: [w.id] } }) as Promise<Array<SwarmTask>>).pipe(
      Effect.map(currentTask),
      Effect.catch((e) => statusCode(e.cause) === 404 ? Effect.succeed(undefined) : Effect.fail(e))
    )
  const ended = (w: WorkerInfo) => taskOf(w).pipe(Effect.map((t) => t === undefined || !isLive(t)))

  /** The container of a live task on this engine's node, or undefined (another node, not created yet). */
  const localContainer = (t: SwarmTask) => Effect.gen(function*() {
    const id = t.Status?.ContainerStatus?.ContainerID
    if (!id || !isLive(t) || options.allNodesRemote) return undefined
    return t.NodeID !== undefined && t.NodeID === (yield* localNodeId) ? id : undefined
  })

  /** 404: the container is gone; 304/409: not in a state for it (stopped, paused). */
  const onContainer = (what: string, w: WorkerInfo, id: string, f: (c: Docker.Container) => Promise<unknown>) =>
    tolerating(`${what} ${w.name}`, () => f(docker.getContainer(id)), [304, 409])

  /** Scales the service to zero: Swarm stops its task wherever it runs (SIGTERM, then its grace period). */
  const scaleToZero = (w: WorkerInfo) => tolerating(`scale ${w.name} to 0`, async () => {
    // Twice: an update races another one (its version is stale) at most once here.
    for (let attempt = 1; ; attempt++) {
      const s = await docker.getService(w.id).inspect() as { Spec: Record<string, unknown>; Version: { Index: number } }
      try {
        return await docker.getService(w.id).update({ ...s.Spec, Mode: { Replicated: { Replicas: 0 } }, version: s.Version.Index })
      } catch (e) {
        if (attempt >= 2 || !/out of sequence/i.test(describe(e))) throw e
      }
    }
  })

  const notReachable = (w: WorkerInfo, t: SwarmTask) =>
    Effect.logWarning(`queue ${w.queue}: worker ${w.name} runs on node ${t.NodeID ?? "?"}, not on this manager's: Swarm can only stop it ` +
      "(SIGTERM: it finishes its jobs within stopTimeout and hands back the rest), so it is stopped, not drained (it did not answer a drain over NATS)")

  const drain: RuntimeDriver["drain"] = (w) => Effect.gen(function*() {
    const t = yield* taskOf(w)
    if (t === undefined || !isLive(t)) return
    const container = yield* localContainer(t)
    if (container !== undefined) return yield* onContainer("drain", w, container, (c) => c.kill({ signal: drainSignal }))
    // On another node: the worker drains when told over NATS (it exits once its jobs are done).
    if (t.Status?.ContainerStatus?.ContainerID && options.drainOverNats && (yield* options.drainOverNats(w))) {
      return yield* Effect.logInfo(`queue ${w.queue}: worker ${w.name} runs on node ${t.NodeID ?? "?"}: drained through NATS (jetscale.control)`)
    }
    // No container yet (waiting for a node, starting): nothing in flight, Swarm cancels the task.
    if (t.Status?.ContainerStatus?.ContainerID) yield* notReachable(w, t)
    yield* scaleToZero(w)
  })

  const removeService = (w: WorkerInfo) =>
    tolerating(`remove service ${w.name}`, () => docker.getService(w.id).remove()).pipe(Effect.andThen(Effect.sync(() => told.delete(w.id))))

  const stop: RuntimeDriver["stop"] = (w, grace) => Effect.gen(function*() {
    const t = yield* taskOf(w)
    // A task Swarm deletes (scaled to zero) takes its logs along: nothing is left to read then.
    let readRest = t !== undefined
    if (t !== undefined && isLive(t)) {
      const container = yield* localContainer(t)
      if (container !== undefined) {
        const seconds = Math.ceil(Duration.toSeconds(grace)) + killMarginSeconds
        yield* onContainer("stop", w, container, (c) => c.stop({ t: seconds }))
        yield* pollUntil(ended(w), taskEndTimeoutMs)
      } else {
        yield* scaleToZero(w)
        readRest = false
        // The service's grace (its queue's stopTimeout when it was created) applies, not `grace`.
        yield* pollUntil(ended(w), swarmStopDelayMs + Duration.toMillis(grace) + killMarginSeconds * 1000 + taskEndTimeoutMs)
      }
    }
    yield* Effect.promise(() => logs.finish(w.id, readRest))
    yield* removeService(w)
  })

  const driver: RuntimeDriver = {
    name: "swarm",
    list,
    start,
    stop,
    drain,
    suspend: (w) => Effect.gen(function*() {
      if (!toldSuspend.has(w.queue)) {
        toldSuspend.add(w.queue)
        yield* Effect.logWarning(`queue ${w.queue}: idle: suspend needs a runtime that can pause a worker, and Swarm cannot pause a task: ` +
          "its idle replicas drain and exit instead (as with idle: stop)")
      }
      yield* drain(w)
    }),
    // Never reached: a swarm worker asked to suspend drains instead, so it never reports `suspended`.
    freeze: () => Effect.void,
    // A replica asked to suspend is draining already: nothing to undo. Once it reports `draining`
    // the scaler counts it as such and starts another replica in its place.
    thaw: () => Effect.void,
    remove: (w) => Effect.promise(() => logs.finish(w.id, true)).pipe(Effect.andThen(removeService(w))),
    ping: call("info", () => docker.info() as Promise<{ Swarm?: { ControlAvailable?: boolean; LocalNodeState?: string } }>).pipe(
      Effect.flatMap((i) => i.Swarm?.ControlAvailable ? Effect.void : Effect.fail(new RuntimeError({
        message: `swarm: this Docker engine is not a Swarm manager (swarm state: ${i.Swarm?.LocalNodeState || "unknown"}): ` +
          "run docker swarm init, or point runtime.docker.socketPath at a manager's engine"
      })))
    )
  }
  return { driver, close: () => logs.closeAll() }
}

/** The swarm driver as a layer; releasing it ends the log follows (the workers keep running). */
export const layer = (options: SwarmDriverOptions) =>
  Layer.effect(Runtime, Effect.acquireRelease(
    Effect.try({ try: () => makeSwarmDriver(options), catch: (cause) => new RuntimeError({ message: `swarm: ${describe(cause)}`, cause }) }),
    ({ close }) => Effect.sync(close)
  ).pipe(Effect.map(({ driver }) => Runtime.of(driver))))
