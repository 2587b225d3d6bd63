// Workers that start from a V8 startup snapshot: `node --snapshot-blob worker.blob --build-snapshot
// worker.cjs` runs the worker's bundle once at image build time (module loading and set-up: Effect,
// the NATS client, the payload schema) and saves the heap; `node --snapshot-blob worker.blob` then
// starts from that heap and only connects and pulls, which cuts a cold start by about half. The
// same entry run as a plain script (`node worker.cjs`) just runs the worker.
import { nuid } from "@nats-io/transport-node"
import { startupSnapshot } from "node:v8"
import { runWorker, type AnyWorkerOptions, type BatchWorkerOptions, type WorkerOptions } from "./run.ts"

/**
 * Runs the worker, at once or, when building a snapshot, as the snapshot's main function. The NATS
 * client's random inbox ids come from a generator seeded at load, so every replica restored from one
 * snapshot would start from the same state: it is reseeded at start (nats.js 3.4 also reseeds it on
 * connect; this does not rely on that). Math.random is reseeded by V8 itself.
 */
export function runWorkerFromSnapshot<A>(options: BatchWorkerOptions<A>): Promise<void> | undefined
export function runWorkerFromSnapshot<A>(options: WorkerOptions<A>): Promise<void> | undefined
export function runWorkerFromSnapshot<A>(options: AnyWorkerOptions<A>): Promise<void> | undefined {
  if (!startupSnapshot.isBuildingSnapshot()) return runWorker(options)
  startupSnapshot.setDeserializeMainFunction(() => {
    nuid.reset()
    void runWorker(options)
  })
  return undefined
}
