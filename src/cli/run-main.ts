// Runs a command's program on Node.js: exits once it and its finalizers are done and its output is
// written out (a pipe takes large output asynchronously), so that a socket left open, such as an
// OTLP export to a collector that does not answer, cannot keep the process alive.
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import type * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

const exitWhenWritten = (code: number) => {
  let pending = 2
  const done = () => { if (--pending === 0) process.exit(code) }
  process.stdout.write("", done)
  process.stderr.write("", done)
}

export const runMain = <E>(program: Effect.Effect<void, E>) => NodeRuntime.runMain(program, {
  disableErrorReporting: false,
  teardown: (exit) => exitWhenWritten(Exit.isSuccess(exit) || Cause.hasInterruptsOnly(exit.cause) ? (process.exitCode as number | undefined) ?? 0 : 1)
})
