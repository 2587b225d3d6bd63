// Test harness: starts a real nats-server (JetStream on, temp store, free port) and stops it.
// One server per test file; stream names in tests are unique per queue config, so files never collide.
import { connect } from "@nats-io/transport-node"
import { spawn, type ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import type { QueueConfig } from "../../src/config/model.ts"
import { renderAccounts } from "../../src/nats/accounts-conf.ts"
import { connectOptions } from "../../src/nats/credentials.ts"
import { queueWorkerCredentials } from "../../src/nats/worker-credentials.ts"
import { setTimeout as sleep } from "node:timers/promises"

export interface NatsServer {
  readonly url: string
  readonly port: number
  readonly storeDir: string
  readonly stop: () => Promise<void>
}

const binary = process.env.NATS_SERVER_BIN ?? "nats-server"

/** The passwords the repository's nats.conf reads from the environment, made up per server. */
export interface StackPasswords {
  readonly JETSCALE_SCALER_PASSWORD: string
  readonly JETSCALE_WORKER_PASSWORD: string
  readonly JETSCALE_PUBLISHER_PASSWORD: string
  readonly JETSCALE_SYS_PASSWORD: string
}

export interface StackNatsServer extends NatsServer {
  readonly passwords: StackPasswords
}

const ownConfig = (dir: string, storeDir: string, jetstreamExtra = "") => [
  "listen: 127.0.0.1:-1",
  `ports_file_dir: "${dir}"`,
  `jetstream { store_dir: "${storeDir}"${jetstreamExtra ? `, ${jetstreamExtra}` : ""} }`
].join("\n")

/**
 * The repository's nats.conf as it is (accounts, users, permissions), but on a random loopback
 * port, with no monitoring port and a temporary store: only those three lines are rewritten.
 */
const repoConfig = async (dir: string, storeDir: string) => {
  const text = await readFile(new URL("../../nats.conf", import.meta.url), "utf8")
  const rewritten = text
    .replace(/^port: .*$/m, `listen: 127.0.0.1:-1\nports_file_dir: "${dir}"`)
    .replace(/^http_port: .*$/m, "")
    .replace(/store_dir: .*$/m, `store_dir: "${storeDir}"`)
  if (!rewritten.includes(storeDir) || !rewritten.includes("ports_file_dir")) throw new Error("nats.conf: expected `port:` and `store_dir:` lines to rewrite")
  return rewritten
}

/** The fixed users of the repository's nats.conf (each queue's worker user: see connectAsWorkerOf). */
export type StackRole = "scaler" | "publisher" | "sys"

/** Connects as one of nats.conf's users, the way jetscale's clients do (their own inbox prefix). */
export const connectAs = (url: string, role: StackRole, passwords: Readonly<Record<string, string>>) =>
  connect({ ...connectOptions({ url, credentials: { user: role, password: passwords[`JETSCALE_${role.toUpperCase()}_PASSWORD`] ?? "" } }), name: `test ${role}` })

/** The accounts `jetscale nats-accounts` writes for these queues (scaler `scaler`, workers `worker-<queue>`). */
export const stackAccounts = (queues: ReadonlyArray<QueueConfig>, workerSecret: string) =>
  renderAccounts({ config: { queues, nats: { credentials: { user: "scaler" }, workerCredentials: { user: "worker" } } }, workerSecret })

/**
 * nats-server with the repository's nats.conf, its accounts generated for `queues` as
 * `jetscale nats-accounts` does, and fresh random passwords for its users.
 */
export const startStackNatsServer = async (queues: ReadonlyArray<QueueConfig> = []): Promise<StackNatsServer> => {
  // nats-server parses a variable's value as a config value: it must read as a string (a letter first).
  const password = () => `p${randomBytes(16).toString("hex")}`
  const passwords: StackPasswords = {
    JETSCALE_SCALER_PASSWORD: password(),
    JETSCALE_WORKER_PASSWORD: password(),
    JETSCALE_PUBLISHER_PASSWORD: password(),
    JETSCALE_SYS_PASSWORD: password()
  }
  return { ...await startNatsServer({ repoConfig: true, accounts: stackAccounts(queues, passwords.JETSCALE_WORKER_PASSWORD), env: { ...passwords } }), passwords }
}

/** Connects as the worker user of `queue`, with the password the scaler would hand its workers. */
export const connectAsWorkerOf = (url: string, queue: string, passwords: Pick<StackPasswords, "JETSCALE_WORKER_PASSWORD">) =>
  connect({ ...connectOptions({ url, credentials: queueWorkerCredentials({ user: "worker", password: passwords.JETSCALE_WORKER_PASSWORD }, queue) }), name: `test worker of ${queue}` })

/** Starts nats-server on 127.0.0.1 with a random port; resolves once it accepts clients. */
export const startNatsServer = async (options: {
  readonly repoConfig?: boolean
  readonly accounts?: string
  readonly env?: Record<string, string>
  /** More settings of the own config's jetstream block, e.g. `sync_interval: always`. */
  readonly jetstream?: string
} = {}): Promise<NatsServer> => {
  const dir = await mkdtemp(join(tmpdir(), "jetscale-nats-"))
  const storeDir = join(dir, "store")
  const conf = join(dir, "nats.conf")
  // nats.conf includes the accounts from the file next to it.
  if (options.accounts !== undefined) await writeFile(join(dir, "nats-accounts.conf"), options.accounts, { mode: 0o600 })
  // and the JetStream durability settings: none on the 2.9 server of the tests (see ./stack).
  if (options.repoConfig) await writeFile(join(dir, "nats-jetstream.conf"), "# nats-server 2.9: no sync_interval\n")
  await writeFile(conf, options.repoConfig ? await repoConfig(dir, storeDir) : ownConfig(dir, storeDir, options.jetstream))
  const server = await spawnServer(dir, conf, options.env)
  return {
    url: `nats://127.0.0.1:${server.port}`,
    port: server.port,
    storeDir,
    stop: async () => {
      await server.terminate()
      await rm(dir, { recursive: true, force: true })
    }
  }
}

export interface RestartableNatsServer extends NatsServer {
  /** SIGKILLs the server: no flush, no clean shutdown, like a crash. Resolves once it has exited. */
  readonly kill: () => Promise<void>
  /** Starts it again on the same port and store; resolves once it accepts clients. */
  readonly restart: () => Promise<void>
  readonly running: () => boolean
}

/** A nats-server (own config) that can be killed and started again on the same port and store. */
export const startRestartableNatsServer = async (options: {
  /** More top-level settings, e.g. `ping_interval: "1s"`. */
  readonly extra?: string
} = {}): Promise<RestartableNatsServer> => {
  const dir = await mkdtemp(join(tmpdir(), "jetscale-nats-"))
  const storeDir = join(dir, "store")
  const conf = join(dir, "nats.conf")
  const config = [ownConfig(dir, storeDir), ...(options.extra ? [options.extra] : [])].join("\n")
  await writeFile(conf, config)
  let server: SpawnedServer | undefined = await spawnServer(dir, conf)
  const port = server.port
  // Later starts listen on the port the first one was given.
  await writeFile(conf, config.replace("127.0.0.1:-1", `127.0.0.1:${port}`))
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    running: () => server !== undefined,
    kill: async () => {
      await server?.kill()
      server = undefined
    },
    restart: async () => {
      if (server) throw new Error("nats-server: restart while it is running")
      for (const f of await readdir(dir)) if (f.endsWith(".ports")) await rm(join(dir, f), { force: true })
      server = await spawnServer(dir, conf)
    },
    stop: async () => {
      await server?.terminate()
      server = undefined
      await rm(dir, { recursive: true, force: true })
    }
  }
}

export interface SpawnedServer {
  readonly port: number
  readonly kill: () => Promise<void>
  /** SIGTERM, then SIGKILL after 5s. */
  readonly terminate: () => Promise<void>
}

export const spawnServer = async (dir: string, conf: string, env: Record<string, string> = {}): Promise<SpawnedServer> => {
  const child: ChildProcess = spawn(binary, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...env } })
  let stderr = ""
  child.stderr?.on("data", (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000) })
  const exited = new Promise((resolve) => child.once("exit", resolve))
  const port = await waitForPort(dir, child, () => stderr)
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
    await exited
  }
  return {
    port,
    kill,
    terminate: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM")
        await Promise.race([exited, sleep(5000)])
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
      }
    }
  }
}

const waitForPort = async (dir: string, child: ChildProcess, stderr: () => string): Promise<number> => {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}: ${stderr()}`)
    const ports = (await readdir(dir)).find((f) => f.endsWith(".ports"))
    if (ports) {
      const info = JSON.parse(await readFile(join(dir, ports), "utf8")) as { nats?: Array<string> }
      const url = info.nats?.[0]
      if (url) return Number(new URL(url).port)
    }
    await sleep(25)
  }
  child.kill("SIGKILL")
  throw new Error(`nats-server did not start within 5s: ${stderr()}`)
}
