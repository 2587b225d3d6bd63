// Commands that run until interrupted (`status --watch`, `events`, `logs -f`) end when their client
// goes away. Run through `./stack jetscale` they are `docker compose exec` processes in the scaler
// container, which no signal reaches when the client on the host is killed; what does reach them is
// the end of their standard input, which ./stack marks as theirs with JETSCALE_END_WITH_STDIN=1.
// Elsewhere stdin is left alone (`jetscale events < /dev/null &` keeps running).
export const endWhenClientGoes = (env: NodeJS.ProcessEnv = process.env): void => {
  if (env.JETSCALE_END_WITH_STDIN !== "1" || process.stdin.isTTY) return
  const end = () => process.exit(0)
  process.stdin.once("end", end)
  process.stdin.once("close", end)
  process.stdin.once("error", end)
  process.stdin.resume()
}
