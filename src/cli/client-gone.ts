// Commands that run until interrupted (`status --watch`, `events`, `logs -f`) end when their client
// goes away. Run through `./stack jetscale` they are `docker compose exec` processes in the scaler
// container, which no signal reaches when the client on the host is killed; what does reach them is
// the end of their standard input, which ./stack marks as theirs with JETSCALE_END_WITH_STDIN=1.
// Elsewhere stdin is left alone (`jetscale events < /dev/null &` keeps running). A closed stdout
// (a pipe into `head`) ends them too.

/** `jetscale logs ... | head` closes stdout early: that is an end, not a crash. */
export const exitOnClosedStdout = (): void => {
  process.stdout.on("error", (e: NodeJS.ErrnoException) => { if (e.code === "EPIPE") process.exit(0) })
}

/** Ends the process when stdout is closed, or, when ./stack asked for it, when stdin ends. */
export const endWhenClientGoes = (env: NodeJS.ProcessEnv = process.env): void => {
  exitOnClosedStdout()
  if (env.JETSCALE_END_WITH_STDIN !== "1" || process.stdin.isTTY) return
  const end = () => process.exit(0)
  process.stdin.once("end", end)
  process.stdin.once("close", end)
  process.stdin.once("error", end)
  process.stdin.resume()
}
