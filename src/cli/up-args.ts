// Recognises a plain `jetscale up [--config FILE]` command line, which up-main.ts runs without the
// full command-line parser.
import { defaultConfigPath } from "../config/default-path.ts"

/** The config path of a plain `up` command line; undefined for anything else. */
export const plainUpConfig = (argv: ReadonlyArray<string>): string | undefined => {
  if (argv[0] !== "up") return undefined
  if (argv.length === 1) return defaultConfigPath()
  if (argv.length === 2 && argv[1]!.startsWith("--config=") && argv[1]!.length > "--config=".length) return argv[1]!.slice("--config=".length)
  if (argv.length === 3 && argv[1] === "--config" && argv[2] !== "" && !argv[2]!.startsWith("-")) return argv[2]
  return undefined
}
