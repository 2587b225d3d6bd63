// Reads what runs in the real Docker engine, for assertions.
import Docker from "dockerode"
import { labels } from "../../src/jetstream/names.ts"

export const docker = new Docker()

export const managedContainers = async (queue: string) =>
  docker.listContainers({ all: true, filters: { label: [`${labels.managed}=true`, `${labels.queue}=${queue}`] } })

/** Removes whatever a failed test left behind for `queue`. */
export const removeManaged = async (queue: string) => {
  for (const c of await managedContainers(queue)) await docker.getContainer(c.Id).remove({ force: true }).catch(() => {})
}
