// Finds the process driver's workers of a queue by their environment (JETSCALE_QUEUE=<queue>).
import { readdir, readFile } from "node:fs/promises"

export const workerPids = async (queue: string): Promise<Array<number>> => {
  const pids: Array<number> = []
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue
    const env = await readFile(`/proc/${entry}/environ`, "utf8").catch(() => "")
    if (env.split("\0").includes(`JETSCALE_QUEUE=${queue}`)) pids.push(Number(entry))
  }
  return pids
}
