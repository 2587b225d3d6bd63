// Bounded polling for tests: every wait has a deadline and says what it waited for.
import { setTimeout as sleep } from "node:timers/promises"

export const waitFor = async <A>(what: string, probe: () => Promise<A | undefined | false> | A | undefined | false, timeoutMs = 20_000, everyMs = 50): Promise<A> => {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const v = await probe()
      if (v !== undefined && v !== false) return v
    } catch (e) {
      last = e
    }
    await sleep(everyMs)
  }
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`)
}
