// Test harness: starts a real nats-server (JetStream on, temp store, free port) and stops it.
// One server per test file; stream names in tests are unique per queue config, so files never collide.
import { spawn, type ChildProcess } from "node:child_process"
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { setTimeout as sleep } from "node:timers/promises"

export interface NatsServer {
  readonly url: string
  readonly port: number
  readonly storeDir: string
  readonly stop: () => Promise<void>
}

const binary = process.env.NATS_SERVER_BIN ?? "nats-server"

/** Starts nats-server on 127.0.0.1 with a random port; resolves once it accepts clients. */
export const startNatsServer = async (): Promise<NatsServer> => {
  const dir = await mkdtemp(join(tmpdir(), "jetscale-nats-"))
  const storeDir = join(dir, "store")
  const conf = join(dir, "nats.conf")
  await writeFile(conf, [
    "listen: 127.0.0.1:-1",
    `ports_file_dir: "${dir}"`,
    `jetstream { store_dir: "${storeDir}" }`
  ].join("\n"))
  const child: ChildProcess = spawn(binary, ["-c", conf], { stdio: ["ignore", "ignore", "pipe"] })
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
