// README commands as a user types them: run with bash in the repository, in the foreground or in
// the background (a watch, a follow, a server), with extra environment.
import { execFile, spawn } from "node:child_process"
import { promisify } from "node:util"
import { waitFor } from "./wait.ts"

const execFileAsync = promisify(execFile)

/** Runs `command` with bash and resolves with its output; rejects on a non-zero exit. */
export const runShell = (command: string, env: Record<string, string> = {}, timeoutMs = 120_000) =>
  execFileAsync("bash", ["-c", command], { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 << 20 })

export interface BackgroundShell {
  readonly output: () => string
  readonly waitForOutput: (pattern: RegExp | string, timeoutMs?: number) => Promise<string>
  /** SIGTERM to the whole process group, SIGKILL after `graceMs`. */
  readonly stop: (graceMs?: number) => Promise<void>
}

/** Starts `command` with bash in its own process group, keeping its stdout and stderr. */
export const startShell = (command: string, env: Record<string, string> = {}): BackgroundShell => {
  const child = spawn("bash", ["-c", command], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true })
  let out = ""
  child.stdout.on("data", (d: Buffer) => (out += d))
  child.stderr.on("data", (d: Buffer) => (out += d))
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const signal = (s: NodeJS.Signals) => { try { process.kill(-child.pid!, s) } catch { /* gone */ } }
  return {
    output: () => out,
    waitForOutput: (pattern, timeoutMs = 60_000) =>
      waitFor(`${command}: output ${String(pattern)}`, () => (typeof pattern === "string" ? out.includes(pattern) : pattern.test(out)) ? out : undefined, timeoutMs, 100),
    stop: async (graceMs = 15_000) => {
      if (child.exitCode !== null || child.signalCode !== null) return
      signal("SIGTERM")
      await Promise.race([exited, new Promise((r) => setTimeout(r, graceMs))])
      signal("SIGKILL")
    }
  }
}
