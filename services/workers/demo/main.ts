// The demo worker as a plain script: `node services/workers/demo/dist/main.js` (process driver, tests).
import { runWorker } from "../../../src/worker/index.ts"
import { demoWorker } from "./worker.ts"

await runWorker(demoWorker)
