// Process driver: workers are child processes running the queue's `command`. Nothing outlives the
// scaler: the layer drains every child when it is released, and each child also watches its parent
// (JETSCALE_PARENT_PID) so a killed scaler leaves no orphans.
import { Duration, Effect, Layer } from "effect"
import { spawn, type ChildProcess } from "node:child_process"
import { describe } from "../nats/connection.ts"
import { drainSignal, lineSplitter, resumeSignal, suspendSignal, Runtime, RuntimeError, type LogLine, type RuntimeDriver, type WorkerInfo, type WorkerSpec } from "./driver.ts"

export interface ProcessDriverOptions {
  readonly onLog?: (line: LogLine) => void
  readonly cwd?: string
}

interface Child {
  readonly info: Omit<WorkerInfo, "state" | "exitCode">
  readonly process: ChildProcess
  /** Resolves with the exit code (128 + signal number for a signal) once output has ended too. */
  readonly done: Promise<number>
  exitCode: number | null
  /** Stopped by `freeze` (SIGSTOP) until `thaw`. */
  frozen: boolean
}

const signalCodes: Record<string, number> = { SIGKILL: 137, SIGTERM: 143, SIGINT: 130 }

const key = (queue: string, instance: string) => `${queue}/${instance}`

export const makeProcessDriver = (options: ProcessDriverOptions = {}) => {
  const children = new Map<string, Child>()
  const onLog = options.onLog ?? (() => {})

  const infoOf = (c: Child): WorkerInfo => ({ ...c.info, state: c.exitCode !== null ? "exited" : c.frozen ? "paused" : "running", exitCode: c.exitCode })
  const signal = (w: WorkerInfo, sig: NodeJS.Signals, after?: (c: Child) => void) => Effect.sync(() => {
    const c = children.get(w.id)
    if (c && c.exitCode === null) {
      c.process.kill(sig)
      after?.(c)
    }
  })

  const start = (spec: WorkerSpec) => Effect.try({
    try: () => {
      const q = spec.queue
      const [cmd, ...args] = q.command ?? []
      if (!cmd) throw new Error(`queues.${q.name}.command: required by the process driver`)
      const child = spawn(cmd, args, {
        cwd: options.cwd ?? process.cwd(),
        env: { PATH: process.env.PATH ?? "", ...spec.env, JETSCALE_PARENT_PID: String(process.pid) },
        stdio: ["ignore", "pipe", "pipe"]
      })
      const out = lineSplitter((line) => onLog({ queue: q.name, instance: spec.instance, stream: "stdout", line }))
      const err = lineSplitter((line) => onLog({ queue: q.name, instance: spec.instance, stream: "stderr", line }))
      child.stdout?.on("data", out.push)
      child.stderr?.on("data", err.push)
      const entry: Child = {
        info: { id: key(q.name, spec.instance), instance: spec.instance, queue: q.name, name: `pid ${child.pid ?? "?"}`, startedAt: Date.now() },
        process: child,
        exitCode: null,
        frozen: false,
        done: new Promise<number>((resolve) => {
          // "close" comes after both output streams have ended.
          child.once("close", (code, signal) => {
            out.end()
            err.end()
            entry.exitCode = code ?? (signal ? signalCodes[signal] ?? 128 : 1)
            resolve(entry.exitCode)
          })
          child.once("error", (e) => {
            onLog({ queue: q.name, instance: spec.instance, stream: "stderr", line: `cannot start ${cmd}: ${e.message}` })
          })
        })
      }
      children.set(key(q.name, spec.instance), entry)
      return infoOf(entry)
    },
    catch: (cause) => new RuntimeError({ message: `process: ${describe(cause)}`, cause })
  })

  const stopChild = async (c: Child, graceMs: number) => {
    if (c.exitCode === null) {
      c.process.kill("SIGTERM")
      // A stopped process gets its SIGTERM once continued; the worker stays cordoned meanwhile.
      if (c.frozen) c.process.kill(resumeSignal)
      c.frozen = false
      const killer = setTimeout(() => c.process.kill("SIGKILL"), graceMs + 2000)
      await c.done
      clearTimeout(killer)
    }
  }

  const driver: RuntimeDriver = {
    name: "process",
    list: (queue) => Effect.sync(() => [...children.values()].filter((c) => !queue || c.info.queue === queue).map(infoOf)),
    start,
    stop: (w, grace) => Effect.promise(async () => {
      const c = children.get(w.id)
      if (!c) return
      await stopChild(c, Duration.toMillis(grace))
      children.delete(w.id)
    }),
    drain: (w) => signal(w, drainSignal),
    suspend: (w) => signal(w, suspendSignal),
    freeze: (w) => signal(w, "SIGSTOP", (c) => { c.frozen = true }),
    thaw: (w) => signal(w, resumeSignal, (c) => { c.frozen = false }),
    remove: (w) => Effect.promise(async () => {
      const c = children.get(w.id)
      if (c && c.exitCode !== null) {
        await c.done
        children.delete(w.id)
      }
    }),
    ping: Effect.void
  }
  /** Drains every child (used when the scaler exits). */
  const stopAll = (graceMs: number) => Effect.promise(() => Promise.all([...children.values()].map((c) => stopChild(c, graceMs)))).pipe(Effect.asVoid)
  return { driver, stopAll }
}

/** The process driver as a layer; releasing it drains every worker within `graceMs`. */
export const layer = (options: ProcessDriverOptions & { readonly graceMs: number }) =>
  Layer.effect(Runtime, Effect.acquireRelease(
    Effect.sync(() => makeProcessDriver(options)),
    ({ stopAll }) => stopAll(options.graceMs)
  ).pipe(Effect.map(({ driver }) => Runtime.of(driver))))
