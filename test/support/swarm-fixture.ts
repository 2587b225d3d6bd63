// A swarm for the enclosing file (or describe block): made before its tests if the engine is in
// none, and left after them (see ./swarm.ts).
import { afterAll, beforeAll } from "vitest"
import { ensureSwarm } from "./swarm.ts"

export const useSwarm = () => {
  let release = async () => {}
  beforeAll(async () => {
    release = await ensureSwarm()
  })
  afterAll(async () => {
    await release()
  })
}
