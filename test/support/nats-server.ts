// Test harness: starts a real nats-server (JetStream on, temp store, free port) and stops it.
// One server per test file; stream names in tests are unique per queue config, so files never collide.
import { connect } from "@nats-io/transport-node"
import { spawn, type ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connectOptions } from "../../src/nats/credentials.ts"
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

const ownConfig = (dir: string, storeDir: string) => [
  "listen: 127.0.0.1:-1",
  `ports_file_dir: "${dir}"`,
  `jetstream { store_dir: "${storeDir}" }`
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

/** The users of the repository's nats.conf. */
export type StackRole = "scaler" | "worker" | "publisher" | "sys"

/** Connects as one of nats.conf's users, the way jetscale's clients do (their own inbox prefix). */
export const connectAs = (url: string, role: StackRole, passwords: Readonly<Record<string, string>>) =>
  connect({ ...connectOptions({ url, credentials: { user: role, password: passwords[`JETSCALE_${role.toUpperCase()}_PASSWORD`] ?? "" } }), name: `test ${role}` })

/** nats-server with the repository's nats.conf and fresh random passwords for its users. */
export const startStackNatsServer = async (): Promise<StackNatsServer> => {
  // nats-server parses a variable's value as a config value: it must read as a string (a letter first).
  const password = () => `p${randomBytes(16).toString("hex")}`
  const passwords: StackPasswords = {
    JETSCALE_SCALER_PASSWORD: password(),
    JETSCALE_WORKER_PASSWORD: password(),
    JETSCALE_PUBLISHER_PASSWORD: password(),
    JETSCALE_SYS_PASSWORD: password()
  }
  return { ...await startNatsServer({ repoConfig: true, env: { ...passwords } }), passwords }
}

/** Starts nats-server on 127.0.0.1 with a random port; resolves once it accepts clients. */
export const startNatsServer = async (options: { readonly repoConfig?: boolean; readonly env?: Record<string, string> } = {}): Promise<NatsServer> => {
  const dir = await mkdtemp(join(tmpdir(), "jetscale-nats-"))
  const storeDir = join(dir, "store")
  const conf = join(dir, "nats.conf")
  await writeFile(conf, options.repoConfig ? await repoConfig(dir, storeDir) : ownConfig(dir, storeDir))
  const child: ChildProcess = spawn(binary, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...options.env } })
  let stderr = ""
  child.stderr?.on("data", (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000) })
  const port = await waitForPort(dir, child, () => stderr)
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve))
        child.kill("SIGTERM")
        await Promise.race([exited, sleep(5000)])
        if (child.exitCode === null) child.kill("SIGKILL")
      }
      await rm(dir, { recursive: true, force: true })
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
