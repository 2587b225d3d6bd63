// The demo worker as a V8 startup snapshot entry (see src/worker/snapshot.ts): the demo image builds
// services/workers/demo/dist/demo.blob from it and starts from that.
import { runWorkerFromSnapshot } from "../../../src/worker/index.ts"
import { demoWorker } from "./worker.ts"

void runWorkerFromSnapshot(demoWorker)
