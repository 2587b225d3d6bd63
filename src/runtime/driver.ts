// The runtime-driver contract: how the scaler starts, lists and stops workers, whatever runs them.
// Drivers only ever see workers they labelled (docker, swarm) or started (process).
import { Context, type Duration, type Effect, Schema } from "effect"
import type { QueueConfig } from "../config/model.ts"

export interface WorkerSpec {
  readonly queue: QueueConfig
  /** Short unique id; the docker driver names the container `jetscale-[<deployment>-]<queue>-<instance>`. */
  readonly instance: string
  /** The complete worker environment (see scaler/worker-env.ts). */
  readonly env: Readonly<Record<string, string>>
}

export interface WorkerInfo {
  /** The runtime's own handle: the container id, the service id (swarm), or `<queue>/<instance>` for the process driver. */
  readonly id: string
  readonly instance: string
  readonly queue: string
  /** Container (swarm: service) name, or `pid <n>` for the process driver. */
  readonly name: string
  /** `paused`: frozen by `freeze` (idle: suspend), its memory kept, no CPU. */
  readonly state: "running" | "paused" | "exited"
  readonly exitCode: number | null
  /** ms since epoch. */
  readonly startedAt: number
}

/** A worker's output line, for the log sink. */
export interface LogLine {
  readonly queue: string
  readonly instance: string
  readonly stream: "stdout" | "stderr"
  readonly line: string
}

export class RuntimeError extends Schema.TaggedError<RuntimeError>()("RuntimeError", {
  message: Schema.String,
  cause: Schema.optional(Schema.Unknown)
}) {}

export interface RuntimeDriver {
  readonly name: "docker" | "process" | "swarm"
  /** Managed workers of one queue (or of every queue), running and exited. */
  readonly list: (queue?: string) => Effect.Effect<ReadonlyArray<WorkerInfo>, RuntimeError>
  readonly start: (spec: WorkerSpec) => Effect.Effect<WorkerInfo, RuntimeError>
  /**
   * Shutdown (`jetscale down`, a scaler without process workers' parent): SIGTERM, up to `grace` for
   * the worker to finish its jobs, then a kill; removed once its output has been read.
   */
  readonly stop: (worker: WorkerInfo, grace: Duration.Duration) => Effect.Effect<void, RuntimeError>
  /**
   * Scale-in: asks the worker to drain (SIGUSR2) and returns at once. It stops pulling, finishes its
   * jobs however long they take, and exits by itself; `remove` then cleans it up. Never a kill.
   */
  readonly drain: (worker: WorkerInfo) => Effect.Effect<void, RuntimeError>
  /**
   * `idle: suspend`: asks the worker to cordon (SIGTSTP): it stops pulling, finishes its jobs and
   * reports `suspended`. Returns at once.
   */
  readonly suspend: (worker: WorkerInfo) => Effect.Effect<void, RuntimeError>
  /** Freezes a suspended worker (docker: `pause`, the cgroup freezer; process: SIGSTOP). */
  readonly freeze: (worker: WorkerInfo) => Effect.Effect<void, RuntimeError>
  /** Thaws a frozen or suspending worker and tells it to pull again (SIGCONT). */
  readonly thaw: (worker: WorkerInfo) => Effect.Effect<void, RuntimeError>
  /** Removes a worker that has exited by itself, after its output has been read to the end. */
  readonly remove: (worker: WorkerInfo) => Effect.Effect<void, RuntimeError>
  /** Checks the runtime answers (docker: the engine is reachable). */
  readonly ping: Effect.Effect<void, RuntimeError>
}

/**
 * Asks a worker over NATS (`jetscale.control.<queue>.<instance>`) to drain for a scale-in, for a
 * runtime that cannot signal it (a Swarm worker on another node). True once the worker answered.
 */
export type DrainOverNats = (worker: WorkerInfo) => Effect.Effect<boolean>

/** The signal that asks a worker to drain for a scale-in (the SDK's `runWorker` handles it). */
export const drainSignal = "SIGUSR2"
/** The signal that cordons a worker for `idle: suspend`; SIGCONT resumes it. */
export const suspendSignal = "SIGTSTP"
export const resumeSignal = "SIGCONT"

export class Runtime extends Context.Service<Runtime, RuntimeDriver>()("jetscale/Runtime") {}

/** Longest partial line kept while waiting for its newline; past it, the part is emitted as a line. */
const maxPartialLine = 256 * 1024

/** Splits a chunked byte stream into whole UTF-8 lines (a character split across chunks stays whole). */
export const lineSplitter = (emit: (line: string) => void) => {
  const decoder = new TextDecoder()
  let rest = ""
  return {
    push: (chunk: Buffer | string) => {
      const parts = (rest + (typeof chunk === "string" ? chunk : decoder.decode(chunk, { stream: true }))).split("\n")
      rest = parts.pop() ?? ""
      for (const p of parts) emit(p)
      if (rest.length > maxPartialLine) {
        emit(rest)
        rest = ""
      }
    },
    end: () => {
      if (rest) emit(rest)
      rest = ""
    }
  }
}
