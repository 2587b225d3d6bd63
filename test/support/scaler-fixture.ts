// Per-test cleanup for end-to-end tests: every scaler started through the fixture is killed, and
// every docker queue it was told about has its containers removed, after each test; a failed test
// prints its scalers' output.
import { afterEach } from "vitest"
import { removeManaged } from "./docker.ts"
import { startScaler, type ScalerProcess } from "./scaler-process.ts"

export const useScalers = () => {
  const scalers: Array<ScalerProcess> = []
  const queues: Array<string> = []
  afterEach(async (ctx) => {
    // A failed test shows what its scalers said: a flake on CI is otherwise a bare timeout.
    if (ctx.task.result?.state === "fail") {
      for (const [i, s] of scalers.entries()) console.error(`--- scaler ${i + 1} of ${scalers.length}, last 6000 characters:\n${s.output().slice(-6000)}`)
    }
    for (const s of scalers.splice(0)) await s.stop("SIGKILL")
    for (const q of queues.splice(0)) await removeManaged(q)
  })
  return {
    /** Starts `jetscale up --config path`. */
    up: (path: string, env: Record<string, string> = {}): ScalerProcess => {
      const s = startScaler(path, env)
      scalers.push(s)
      return s
    },
    /** Containers of this queue are removed after the test. */
    cleanUpQueue: (queue: string) => void queues.push(queue)
  }
}
