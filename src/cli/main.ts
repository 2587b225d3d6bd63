// The `jetscale` command line.
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Effect, Exit } from "effect"
import { Command } from "effect/cli"
import { dlq } from "./dlq.ts"
import { down } from "./down.ts"
import { enqueue } from "./enqueue.ts"
import { events } from "./events.ts"
import { logs } from "./logs.ts"
import { natsAccounts } from "./nats-accounts.ts"
import { scale } from "./scale.ts"
import { status } from "./status.ts"
import { up } from "./up.ts"

const jetscale = Command.make("jetscale").pipe(
  Command.withDescription("event-driven autoscaler for job workers on NATS JetStream"),
  Command.withSubcommands([up, down, status, enqueue, dlq, events, scale, logs, natsAccounts])
)

/**
 * Exits once the command and its finalizers are done and its output is written out (a pipe takes
 * large output asynchronously): a socket left open, such as an OTLP export to a collector that does
 * not answer, must not keep the process alive.
 */
const exitWhenWritten = (code: number) => {
  let pending = 2
  const done = () => { if (--pending === 0) process.exit(code) }
  process.stdout.write("", done)
  process.stderr.write("", done)
}

jetscale.pipe(
  Command.run({ version: "0.1.0" }),
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({
    disableErrorReporting: false,
    teardown: (exit) => exitWhenWritten(Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause) ? (process.exitCode as number | undefined) ?? 0 : 1)
  })
)
