// The swarm driver's pure half: the Swarm service of one worker (one service per replica, so a
// scale-in removes the very replica the scaler picked), and what a service and its task say about
// the worker (running, exited with its code, or a problem worth a log line). The Docker calls live
// in ./swarm.ts.
import { Duration } from "effect"
import { containerName, defaultDeployment, labels } from "../jetstream/names.ts"
import type { WorkerInfo, WorkerSpec } from "./driver.ts"

/** The longest service name Swarm takes (a DNS label). */
export const maxServiceNameLength = 63

/** Extra time Swarm gives a worker past its own stopTimeout before the kill (as the docker driver). */
export const killMarginSeconds = 2

/** The parts of a Swarm task the driver reads (GET /tasks). */
export interface SwarmTask {
  readonly ID: string
  readonly ServiceID: string
  readonly NodeID?: string
  readonly CreatedAt?: string
  readonly DesiredState?: string
  readonly Version?: { readonly Index?: number }
  readonly Status?: {
    readonly State?: string
    readonly Err?: string
    readonly ContainerStatus?: { readonly ContainerID?: string; readonly ExitCode?: number }
  }
}

/** The parts of a Swarm service the driver reads (GET /services). */
export interface SwarmService {
  readonly ID: string
  readonly CreatedAt?: string
  readonly Version?: { readonly Index?: number }
  readonly Spec?: {
    readonly Name?: string
    readonly Labels?: Readonly<Record<string, string>>
    readonly Mode?: { readonly Replicated?: { readonly Replicas?: number } }
    readonly TaskTemplate?: { readonly Placement?: { readonly Constraints?: ReadonlyArray<string> } }
  }
}

/** Task states before the container has exited: the worker is (about to be) running. */
const liveStates = new Set(["new", "allocated", "pending", "assigned", "accepted", "preparing", "ready", "starting", "running"])

export const isLive = (t: SwarmTask): boolean => liveStates.has(t.Status?.State ?? "new")

/** Images whose user is root (or unset, or unknown to the manager) run their workers as nobody. */
export const nonRootUser = "65534:65534"
export const isRootUser = (user: string | undefined): boolean => user === undefined || user === "" || /^(0|root)(:|$)/.test(user)

/** `spread=node.labels.zone` -> Swarm's `{ Spread: { SpreadDescriptor: "node.labels.zone" } }`. */
export const spreadPreference = (p: string) => ({ Spread: { SpreadDescriptor: p.replace(/^spread=/, "") } })

const nanos = (d: Duration.Duration) => Math.round(Duration.toMillis(d) * 1e6)

/**
 * The service of one worker: replicated, one replica, never restarted by Swarm (the scaler's
 * crash-loop backoff decides about new starts), with the docker driver's labels, environment,
 * limits and hardening as far as a Swarm ContainerSpec has them:
 * - read-only root filesystem, a 64 MiB tmpfs on /tmp (Swarm mounts tmpfs noexec,nosuid,nodev),
 *   every capability dropped (CapabilityDrop, API 1.41), docker-init as PID 1, non-root user;
 * - `Privileges.NoNewPrivileges`: engines whose API has it apply it; older ones (this 20.10 engine,
 *   API 1.41) ignore the field, so there it takes the daemon's `no-new-privileges` setting;
 * - no privileged mode: Swarm has none (the driver refuses a privileged queue);
 * - limits: NanoCPUs, MemoryBytes and Pids (Resources.Limits.Pids, API 1.41).
 * Swarm stops a task (service removal, a node drained) with SIGTERM and kills it stopTimeout + 2s
 * later, as `docker stop` does for the docker driver.
 */
export const serviceSpec = (spec: WorkerSpec, o: { readonly deployment: string; readonly network: string; readonly user: string | undefined }) => {
  const q = spec.queue
  const workerLabels = { [labels.managed]: "true", [labels.queue]: q.name, [labels.instance]: spec.instance, [labels.deployment]: o.deployment }
  return {
    Name: containerName(o.deployment, q.name, spec.instance),
    Labels: workerLabels,
    TaskTemplate: {
      ContainerSpec: {
        Image: q.image ?? "",
        // The image's ENTRYPOINT stays, `command` replaces its CMD (the docker driver's `Cmd`).
        ...(q.command ? { Args: [...q.command] } : {}),
        Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
        Labels: workerLabels,
        ...(o.user ? { User: o.user } : {}),
        Init: true,
        ReadOnly: true,
        CapabilityDrop: ["ALL"],
        Privileges: { NoNewPrivileges: true },
        StopSignal: "SIGTERM",
        StopGracePeriod: nanos(Duration.sum(q.stopTimeout, Duration.seconds(killMarginSeconds))),
        Mounts: [
          { Type: "tmpfs", Target: "/tmp", TmpfsOptions: { SizeBytes: 64 * 1024 * 1024, Mode: 0o1777 } },
          ...q.mounts.map((m) => ({ Type: "bind", Source: m.source, Target: m.target, ReadOnly: m.readOnly }))
        ]
      },
      Resources: {
        Limits: {
          ...(q.limits.memoryBytes ? { MemoryBytes: q.limits.memoryBytes } : {}),
          ...(q.limits.cpus ? { NanoCPUs: Math.round(q.limits.cpus * 1e9) } : {}),
          ...(q.limits.pids ? { Pids: q.limits.pids } : {})
        }
      },
      RestartPolicy: { Condition: "none", MaxAttempts: 0 },
      Placement: { Constraints: [...q.placement.constraints], Preferences: q.placement.preferences.map(spreadPreference) },
      Networks: [{ Target: o.network }]
    },
    Mode: { Replicated: { Replicas: 1 } }
  }
}

/** The service's current task: its newest (with restart policy none there is only one). */
export const currentTask = (tasks: ReadonlyArray<SwarmTask>): SwarmTask | undefined =>
  [...tasks].sort((a, b) => (b.Version?.Index ?? 0) - (a.Version?.Index ?? 0) || (b.CreatedAt ?? "").localeCompare(a.CreatedAt ?? ""))[0]

/**
 * The worker a service is, or undefined when the service is not one of this deployment's workers.
 * A task that waits for a node (`pending`: no node satisfies its constraints, or none has the
 * resources) is `running`: it is a replica Swarm will place when it can, not a crash. A service
 * scaled to zero by a stop whose task is gone is `exited`, its code unknown.
 */
export const workerOf = (deployment: string) => (s: SwarmService, task: SwarmTask | undefined): WorkerInfo | undefined => {
  const l = s.Spec?.Labels ?? {}
  const instance = l[labels.instance]
  const queue = l[labels.queue]
  if (l[labels.managed] !== "true" || !instance || !queue) return undefined
  if ((l[labels.deployment] ?? defaultDeployment) !== deployment) return undefined
  const scaledDown = s.Spec?.Mode?.Replicated?.Replicas === 0
  const live = task === undefined ? !scaledDown : isLive(task)
  const state = task?.Status?.State
  // A rejected task never ran (no such image, a bind source missing on its node): no exit code.
  const exitCode = live || task === undefined || state === "rejected" || state === "orphaned" ? null : task.Status?.ContainerStatus?.ExitCode ?? null
  return {
    id: s.ID,
    instance,
    queue,
    name: s.Spec?.Name ?? s.ID,
    state: live ? "running" : "exited",
    exitCode,
    startedAt: Date.parse(s.CreatedAt ?? "") || Date.now()
  }
}

/**
 * What is worth telling about a task, once: one waiting for a node (with the service's
 * constraints), or one Swarm refused or failed for a reason other than the worker's exit code.
 */
export const taskProblem = (s: SwarmService, t: SwarmTask | undefined): string | undefined => {
  const err = t?.Status?.Err
  if (t === undefined || !err) return undefined
  if (t.Status?.State === "pending") {
    const constraints = s.Spec?.TaskTemplate?.Placement?.Constraints ?? []
    return `is not placed: ${err}${constraints.length > 0 ? ` (placement constraints: ${constraints.join(", ")})` : ""}; ` +
      "it counts as a replica and waits until Swarm finds a node for it"
  }
  if (!isLive(t) && !/^task: non-zero exit/.test(err)) return `${t.Status?.State ?? "failed"} by Swarm: ${err}`
  return undefined
}
