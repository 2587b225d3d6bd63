// The README cannot rot: every command in its `bash` blocks must be run, as written, by some test
// (or by .ci/run). A command joined with `&&` counts as its parts; a trailing `&` and comments are
// not part of a command.
import { readdirSync, readFileSync, statSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"

const readmeCommands = (text: string): Array<string> =>
  [...text.matchAll(/```bash\n([\s\S]*?)```/g)]
    .flatMap((m) => m[1]!.split("\n"))
    .map((line) => line.replace(/\s+#\s.*$/, "").replace(/\s*&$/, "").trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .flatMap((line) => line.split(" && ").map((part) => part.trim()))

const filesUnder = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? filesUnder(path) : path.endsWith(".ts") ? [path] : []
  })

describe("README", () => {
  it("every command in its bash blocks is run by a test or by .ci/run", () => {
    const commands = readmeCommands(readFileSync("README.md", "utf8"))
    expect(commands.length).toBeGreaterThan(20)
    const runners = [...filesUnder("test").filter((f) => !f.endsWith("readme.test.ts")), ".ci/run"].map((f) => readFileSync(f, "utf8")).join("\n")
    expect(commands.filter((c) => !runners.includes(c))).toEqual([])
  })
})
