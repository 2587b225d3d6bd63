// `jetscale/worker`: the worker SDK's public surface.
export { runWorker, startWorker, type RunningWorker, type WorkerOptions } from "./run.ts"
export { NonRetryableError } from "./errors.ts"
export { runWorkerFromSnapshot } from "./snapshot.ts"
export type { Handler, JobContext } from "./job.ts"
export { readWorkerSettings, type WorkerSettings } from "./settings.ts"
