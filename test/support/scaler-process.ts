// Runs `jetscale up` as a real process (the built CLI) and keeps its output for assertions.
import { spawn } from "node:child_process"
import { mkdtemp, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { waitFor } from "./wait.ts"

export interface ScalerProcess {
  readonly pid: number
  readonly output: () => string
  /** Sends `signal` and resolves with the exit code. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<number | null>
  readonly waitForOutput: (text: string | RegExp, timeoutMs?: number) => Promise<void>
}

/** Writes a config file; its admin API listens on a free port unless the YAML says otherwise. */
export const writeConfig = async (yaml: string): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), "jetscale-cfg-"))
  const path = join(dir, "jetscale.yaml")
  await writeFile(path, /^admin:/m.test(yaml) ? yaml : `${yaml.trimEnd()}\nadmin: { listen: "127.0.0.1:0" }\n`)
  return path
}

/**
 * A config with one queue of the demo worker, for any driver (docker, swarm: host network): the demo
 * image, and its bundle as the command unless `command` says otherwise ("image": the image's own).
 * `settings` are the queue's further keys; the scaler ticks every 500ms unless `interval` says.
 */
export const writeDemoQueueConfig = (o: {
  readonly natsUrl: string
  readonly driver: "docker" | "process" | "swarm"
  readonly queue: string
  readonly settings: Readonly<Record<string, string | number>>
  readonly interval?: string
  readonly command?: ReadonlyArray<string> | "image"
}): Promise<string> => {
  const command = o.command ?? ["node", "services/workers/demo/dist/main.js"]
  return writeConfig([
    `nats: { url: "${o.natsUrl}" }`,
    `runtime: { driver: ${o.driver}, docker: { network: host } }`,
    `scaler: { interval: ${o.interval ?? "500ms"} }`,
    "queues:",
    `  ${o.queue}:`,
    "    image: jetscale/worker-demo:dev",
    ...(command === "image" ? [] : [`    command: ${JSON.stringify(command)}`]),
    ...Object.entries(o.settings).map(([k, v]) => `    ${k}: ${v}`)
  ].join("\n"))
}

/** A config for end-to-end tests: this NATS, the docker driver on the host network, a 500ms tick. */
export const writeDockerConfig = (natsUrl: string, queuesYaml: string): Promise<string> => writeConfig(`
nats: { url: "${natsUrl}" }
runtime: { driver: docker, docker: { network: host } }
scaler: { interval: 500ms }
queues:
${queuesYaml}`)

/** Runs `jetscale ...args`; `stdin`, when given, is piped to it. */
export const runCli = (args: ReadonlyArray<string>, env: Record<string, string> = {}, stdin?: string | Buffer) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ["bin/jetscale.js", ...args], { env: { ...process.env, ...env }, stdio: [stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"] })
    if (stdin !== undefined) child.stdin!.end(stdin)
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (d: Buffer) => (stdout += d))
    child.stderr!.on("data", (d: Buffer) => (stderr += d))
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
    child.once("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

export const startScaler = (configPath: string, env: Record<string, string> = {}): ScalerProcess => {
  const child = spawn(process.execPath, ["bin/jetscale.js", "up", "--config", configPath], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
  let out = ""
  child.stdout.on("data", (d: Buffer) => (out += d))
  child.stderr.on("data", (d: Buffer) => (out += d))
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)))
  return {
    pid: child.pid!,
    output: () => out,
    stop: async (signal = "SIGTERM") => {
      if (child.exitCode === null) child.kill(signal)
      const timer = setTimeout(() => child.kill("SIGKILL"), 60_000)
      const code = await exited
      clearTimeout(timer)
      return code
    },
    waitForOutput: (text, timeoutMs = 20_000) =>
      waitFor(`scaler output ${String(text)}`, () => {
        if (child.exitCode !== null) throw new Error(`scaler exited with ${child.exitCode}:\n${out}`)
        return typeof text === "string" ? out.includes(text) : text.test(out)
      }, timeoutMs).then(() => undefined)
  }
}
