// The README's two commands check what they need before anything else: `./stack test --check` and
// `./stack up --check` as written (this machine has it all, as CI's has once .ci/run installed it),
// and `./stack up` where a prerequisite is missing (a PATH without it, installing turned off): one
// line names it with the one command that installs it, the exit code is 1, and nothing was done.
// (`./stack test` itself is the whole suite: CI runs it as `bash .ci/run`.)
import { execFile } from "node:child_process"
import { cp, mkdir, mkdtemp, readdir, rm, symlink } from "node:fs/promises"
import { tmpdir } from "node:os"
import { delimiter, join } from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runShell } from "../support/shell.ts"

const run = promisify(execFile)
let dir = ""

/** A folder of links to every command on PATH but `without`: a PATH that lacks them. */
const pathWithout = async (...without: Array<string>) => {
  const bin = await mkdtemp(join(dir, "bin-"))
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin"]
  for (const d of dirs) {
    const names = await readdir(d).catch(() => [] as Array<string>)
    for (const name of names) {
      if (without.includes(name)) continue
      await symlink(join(d, name), join(bin, name)).catch(() => undefined) // the first on PATH wins
    }
  }
  return bin
}

/** `./stack up` in a copy of the stack's scripts (no .env: nothing remembered), with PATH and env. */
const upIn = async (copy: string, env: Record<string, string>) =>
  run("bash", ["./stack", "up"], { cwd: copy, env: { ...process.env, JETSCALE_INSTALL: "0", ...env }, timeout: 60_000 })
    .then((r) => ({ code: 0, ...r }), (e: { code: number; stdout: string; stderr: string }) => e)

let copy = ""
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "jetscale-prereqs-"))
  copy = join(dir, "repo")
  await mkdir(copy)
  await cp("stack", join(copy, "stack"))
  await cp("scripts", join(copy, "scripts"), { recursive: true })
  await cp("compose.yaml", join(copy, "compose.yaml"))
})

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe("./stack checks its prerequisites first", () => {
  it("./stack test --check: every prerequisite of the tests is here, each on its line", async () => {
    const { stdout } = await runShell("./stack test --check")
    for (const what of ["Node.js 24", "nats-server", "docker", "dockerd", "docker-compose", "busybox", "chromium", "curl", "Docker engine"]) {
      expect(stdout).toMatch(new RegExp(`^ok +${what}: `, "m"))
    }
    expect(stdout).toContain("./stack test has all it needs")
  })

  it("./stack up --check: every prerequisite of the stack is here; Jaeger and Prometheus are optional", async () => {
    const { stderr } = await runShell("./stack up --check")
    for (const what of ["docker", "compose", "Node.js 24", "Docker engine"]) expect(stderr).toMatch(new RegExp(`^stack: ok +${what}: `, "m"))
    expect(stderr).toContain("./stack up has all it needs")
  })

  it("no busybox (and no registry): the line says what it is for and how to install it; nothing is done", async () => {
    const r = await upIn(copy, { PATH: await pathWithout("busybox"), JETSCALE_OFFLINE: "1" })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^stack: missing {2}busybox \(the wget of the healthcheck in the NATS image made here\): (sudo )?apt-get install -y busybox-static$/m)
    expect(await readdir(copy)).not.toContain(".env")
  })

  it("no Docker Compose: the line names the package that has it", async () => {
    const path = await pathWithout("docker-compose")
    const plugin = await run("docker", ["compose", "version"], { env: { ...process.env, PATH: path } }).then(() => true, () => false)
    if (plugin) return // a real compose plugin answers here whatever the PATH: nothing is missing
    const r = await upIn(copy, { PATH: path })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^stack: missing {2}Docker Compose \(runs the stack\): (sudo )?apt-get install -y docker-compose(-plugin)?$/m)
  })

  it("no Docker engine answering where DOCKER_HOST points: said so, with what to do", async () => {
    const r = await upIn(copy, { DOCKER_HOST: `unix://${join(dir, "no-such.sock")}` })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`stack: missing  Docker engine (none answers at DOCKER_HOST=unix://${join(dir, "no-such.sock")})`)
  })
})
