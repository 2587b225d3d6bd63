// Test harness: a real 3-node NATS cluster on loopback (routes between the nodes, JetStream with a
// store each), whose nodes can be SIGKILLed and started again on the same ports and stores.
import { jetstreamManager } from "@nats-io/jetstream"
import { connect } from "@nats-io/transport-node"
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { spawnServer, type SpawnedServer } from "./nats-server.ts"
import { waitFor } from "./wait.ts"

export interface ClusterNode {
  readonly name: string
  readonly url: string
  readonly running: () => boolean
  /** SIGKILL: no flush, no leadership hand-off. Resolves once it has exited. */
  readonly kill: () => Promise<void>
  /** Starts it again on its port and store; resolves once it accepts clients. */
  readonly restart: () => Promise<void>
}

export interface NatsCluster {
  readonly nodes: ReadonlyArray<ClusterNode>
  /** Every node's URL, comma-separated (the form of NATS_URL). */
  readonly urls: string
  readonly node: (name: string) => ClusterNode
  readonly stop: () => Promise<void>
}

const freePort = () => new Promise<number>((resolve, reject) => {
  const server = createServer()
  server.once("error", reject)
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as { port: number }
    server.close(() => resolve(port))
  })
})

/** Starts `size` nodes and resolves once the cluster's JetStream answers (a meta leader is elected). */
export const startNatsCluster = async (size = 3): Promise<NatsCluster> => {
  const dir = await mkdtemp(join(tmpdir(), "jetscale-cluster-"))
  const ports = await Promise.all(Array.from({ length: size }, async () => ({ client: await freePort(), route: await freePort() })))
  const confs = await Promise.all(ports.map(async (p, i) => {
    const nodeDir = join(dir, `n${i + 1}`)
    await writeFile(join(dir, `n${i + 1}.conf`), [
      `server_name: n${i + 1}`,
      `listen: 127.0.0.1:${p.client}`,
      `ports_file_dir: "${nodeDir}"`,
      `jetstream { store_dir: "${join(nodeDir, "store")}" }`,
      "cluster {",
      "  name: jetscale-test",
      `  listen: 127.0.0.1:${p.route}`,
      `  routes: [${ports.filter((_, j) => j !== i).map((o) => `nats-route://127.0.0.1:${o.route}`).join(", ")}]`,
      "}"
    ].join("\n"))
    await mkdir(nodeDir, { recursive: true })
    return { nodeDir, conf: join(dir, `n${i + 1}.conf`) }
  }))
  const servers: Array<SpawnedServer | undefined> = await Promise.all(confs.map((c) => spawnServer(c.nodeDir, c.conf)))
  const nodes = ports.map((p, i): ClusterNode => ({
    name: `n${i + 1}`,
    url: `nats://127.0.0.1:${p.client}`,
    running: () => servers[i] !== undefined,
    kill: async () => {
      await servers[i]?.kill()
      servers[i] = undefined
    },
    restart: async () => {
      if (servers[i]) throw new Error(`node n${i + 1}: restart while it is running`)
      const { nodeDir, conf } = confs[i]!
      for (const f of await readdir(nodeDir)) if (f.endsWith(".ports")) await rm(join(nodeDir, f), { force: true })
      servers[i] = await spawnServer(nodeDir, conf)
    }
  }))
  const urls = nodes.map((n) => n.url).join(",")
  const cluster: NatsCluster = {
    nodes,
    urls,
    node: (name) => nodes.find((n) => n.name === name) ?? (() => { throw new Error(`no node ${name}`) })(),
    stop: async () => {
      await Promise.all(servers.map((s) => s?.terminate()))
      await rm(dir, { recursive: true, force: true })
    }
  }
  const nc = await connect({ servers: nodes.map((n) => n.url) })
  try {
    const jsm = await jetstreamManager(nc, { checkAPI: false })
    await waitFor("the cluster's JetStream meta leader", () => jsm.getAccountInfo().then(() => true, () => false), 30_000, 250)
  } finally {
    await nc.close()
  }
  return cluster
}
