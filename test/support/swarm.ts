// A single-node Swarm for the swarm driver's tests and bench: an engine that is not in a swarm gets
// one (`docker swarm init --advertise-addr 127.0.0.1`) for the file and leaves it afterwards
// (`docker swarm leave --force`); an engine that already was a manager is left as it was. Test
// files run one at a time, each with its own setup and teardown (./swarm-fixture.ts), so two never
// share a swarm.
import Docker from "dockerode"
import { execSync } from "node:child_process"
import { labels } from "../../src/jetstream/names.ts"
import { currentTask, type SwarmTask } from "../../src/runtime/swarm-spec.ts"
import { waitFor } from "./wait.ts"

const docker = new Docker()

/** `inactive`, `active`, `pending`, `error` or `locked`. */
export const swarmState = (): string => execSync("docker info --format '{{.Swarm.LocalNodeState}}'", { encoding: "utf8" }).trim()

/** Makes this engine a Swarm manager if it is in no swarm; resolves with what puts it back as it was. */
export const ensureSwarm = async (): Promise<() => Promise<void>> => {
  const state = swarmState()
  if (state === "active") {
    const info = await docker.info() as { Swarm?: { ControlAvailable?: boolean } }
    if (!info.Swarm?.ControlAvailable) throw new Error("this Docker engine is in a swarm but not a manager: the swarm tests need a manager")
    return async () => {}
  }
  if (state !== "inactive") throw new Error(`this Docker engine's swarm state is ${state}: the swarm tests need inactive (they make a swarm) or active`)
  // Swarm makes the bridge docker_gwbridge and leaves it behind: it goes too, unless it was there.
  const hadGatewayBridge = (await docker.listNetworks({ filters: { name: ["docker_gwbridge"] } })).length > 0
  execSync("docker swarm init --advertise-addr 127.0.0.1", { stdio: "ignore" })
  return async () => {
    // Services first, so no task outlives the swarm as a stray container.
    for (const s of await docker.listServices({ filters: { label: [`${labels.managed}=true`] } })) await docker.getService(s.ID).remove().catch(() => {})
    await waitFor("the swarm tasks' containers to go", async () =>
      (await docker.listContainers({ all: true, filters: { label: ["com.docker.swarm.service.id"] } })).length === 0, 30_000, 200).catch(() => {})
    execSync("docker swarm leave --force", { stdio: "ignore" })
    if (!hadGatewayBridge) await docker.getNetwork("docker_gwbridge").remove().catch(() => {})
  }
}

/** The services of a queue's workers, with their current task. */
export const managedServices = async (queue: string) => {
  const services = await docker.listServices({ filters: { label: [`${labels.managed}=true`, `${labels.queue}=${queue}`] } })
  const tasks = services.length === 0 ? [] : await docker.listTasks({ filters: { service: services.map((s) => s.ID) } }) as Array<SwarmTask>
  return services.map((s) => ({ id: s.ID, name: s.Spec?.Name ?? "", spec: s.Spec, task: currentTask(tasks.filter((t) => t.ServiceID === s.ID)) }))
}

/** How many of a queue's workers have a running task. */
export const runningServices = async (queue: string) => (await managedServices(queue)).filter((s) => s.task?.Status?.State === "running").length

/** Removes whatever a test left behind for `queue`. */
export const removeManagedServices = async (queue: string) => {
  for (const s of await managedServices(queue)) await docker.getService(s.id).remove().catch(() => {})
}

/** The container of a service's running task (on this single node). */
export const taskContainer = async (serviceId: string) => {
  const task = await waitFor(`a running task of service ${serviceId}`, async () => {
    const t = currentTask(await docker.listTasks({ filters: { service: [serviceId] } }) as Array<SwarmTask>)
    return t?.Status?.ContainerStatus?.ContainerID ? t : undefined
  })
  return docker.getContainer(task.Status!.ContainerStatus!.ContainerID!)
}
