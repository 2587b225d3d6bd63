// The `jetscale` command line: runs the commands of commands.ts on Node.js. Deep imports only: a
// package's barrel would load modules no command uses.
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Effect from "effect/Effect"
import * as Command from "effect/cli/Command"
import { jetscale } from "./commands.ts"
import { runMain } from "./run-main.ts"

runMain(jetscale.pipe(Command.run({ version: "0.1.0" }), Effect.provide(NodeServices.layer)))
