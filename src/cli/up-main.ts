// `jetscale up [--config FILE]` started directly (by bin/jetscale.js and the scaler image): the
// scaler without the command-line parser, its help machinery and the platform services the other
// commands use, which would only take memory in a long-running process. Any other command line
// (`up --help`, another command, a typo) goes to the full CLI, which answers it as always.
import { runMain } from "./run-main.ts"
import { plainUpConfig } from "./up-args.ts"
import { runUp } from "./up.ts"

const config = plainUpConfig(process.argv.slice(2))
if (config === undefined) await import("./main.ts")
else runMain(runUp({ config }))
