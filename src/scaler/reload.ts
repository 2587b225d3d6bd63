// Live config reload: on SIGHUP, and when the config file changes, the scaler loads it again and
// applies it (Scaler.apply). A config with problems is refused with its problem lines: logged,
// published on `jetscale.events.config`, kept for /readyz; the running config stays. Every reload
// is published there with what changed.
import type { NatsConnection } from "@nats-io/transport-node"
import { Cause, Clock, Duration, Effect, Queue, Ref, Stream } from "effect"
import { watch } from "node:fs"
import { readFile } from "node:fs/promises"
import { basename, dirname } from "node:path"
import { LiveConfig } from "../config/live.ts"
import { loadScalerConfig } from "../config/load.ts"
import { configEventSubject } from "../jetstream/names.ts"
import { Nats } from "../nats/connection.ts"
import { describeDiff, diffConfig, isEmptyDiff, type ConfigDiff } from "./config-diff.ts"
import { Scaler } from "./scaler.ts"

export type ReloadTrigger = "SIGHUP" | "file"

/** The public JSON of a config event. */
export type ConfigEvent =
  | { readonly type: "reloaded"; readonly trigger: ReloadTrigger; readonly file: string; readonly at: string } & ConfigDiff
  | { readonly type: "refused"; readonly trigger: ReloadTrigger; readonly file: string; readonly at: string; readonly problems: ReadonlyArray<string> }

/** Editors write a file in a few steps (truncate, write, rename): one reload after they settle. */
const settleTime = Duration.millis(300)

/**
 * SIGHUP, and changes of `path` (watched through its directory, so an editor that replaces the
 * file is seen, and so is a file that appears later), undebounced. A watch that fails leaves SIGHUP working.
 */
export const reloadTriggers = (path: string): Stream.Stream<ReloadTrigger> =>
  Stream.callback<ReloadTrigger>((queue) => Effect.gen(function*() {
    const onHup = () => void Queue.offerUnsafe(queue, "SIGHUP")
    yield* Effect.acquireRelease(Effect.sync(() => process.on("SIGHUP", onHup)), () => Effect.sync(() => process.off("SIGHUP", onHup)))
    const name = basename(path)
    yield* Effect.acquireRelease(
      Effect.sync(() => {
        try {
          const watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
            if (file === null || file === name) Queue.offerUnsafe(queue, "file")
          })
          watcher.on("error", () => watcher.close())
          return watcher
        } catch {
          return undefined
        }
      }),
      (watcher) => Effect.sync(() => watcher?.close())
    ).pipe(Effect.tap((watcher) => watcher ? Effect.void : Effect.logWarning(`cannot watch ${path} for changes: reload it with SIGHUP`)))
  }), { bufferSize: 16, strategy: "sliding" })

const publishConfigEvent = (nc: NatsConnection, event: ConfigEvent) =>
  Effect.try(() => nc.publish(configEventSubject, JSON.stringify(event))).pipe(
    Effect.catch((e) => Effect.logWarning(`config event not published: ${String(e)}`)))

/** Loads `path` and applies it; a refused config is logged, published and kept for /readyz. */
export const reloadConfig = (path: string, trigger: ReloadTrigger, env: NodeJS.ProcessEnv = process.env) => Effect.gen(function*() {
  const scaler = yield* Scaler
  const live = yield* LiveConfig
  const { nc } = yield* Nats
  const at = new Date(yield* Clock.currentTimeMillis).toISOString()
  const refuse = (problems: ReadonlyArray<string>) => Effect.gen(function*() {
    yield* Effect.logError(`config ${path} refused (${trigger}); the running config stays:\n${problems.map((p) => `  ${p}`).join("\n")}`)
    yield* live.refuse({ at, problems })
    yield* publishConfigEvent(nc, { type: "refused", trigger, file: path, at, problems })
  })
  const loaded = yield* loadScalerConfig(path, env).pipe(Effect.result)
  if (loaded._tag === "Failure") return yield* refuse(loaded.failure.problems)
  const applied = yield* scaler.apply(loaded.success).pipe(Effect.result)
  if (applied._tag === "Failure") return yield* refuse([applied.failure.message])
  const diff = applied.success
  yield* Effect.logInfo(`config ${path} reloaded (${trigger}): ${describeDiff(diff)}`)
  yield* publishConfigEvent(nc, { type: "reloaded", trigger, file: path, at, ...diff })
})

/**
 * Reloads on every trigger for the life of the scope. A file event that leaves the text as it was
 * last read (a touch, the editor's own temp files) does nothing; SIGHUP always reloads.
 */
export const watchConfig = (path: string, env: NodeJS.ProcessEnv = process.env) => Effect.gen(function*() {
  const readText = Effect.promise(() => readFile(path, "utf8").catch(() => undefined))
  const lastText = yield* Ref.make(yield* readText)
  // A SIGHUP among the triggers a pause merges is remembered: it always reloads.
  const hangup = yield* Ref.make(false)
  const guarded = <E, R>(trigger: ReloadTrigger, reload: Effect.Effect<void, E, R>) =>
    reload.pipe(Effect.catchCause((cause) => Cause.hasInterruptsOnly(cause)
      ? Effect.failCause(cause)
      : Effect.logError(`config reload (${trigger}) failed; the running config stays`, cause)))
  // An edit made while the scaler started (after it read the file, before this watch) is applied now.
  yield* guarded("file", Effect.gen(function*() {
    const loaded = yield* loadScalerConfig(path, env).pipe(Effect.result)
    if (loaded._tag === "Failure" || !isEmptyDiff(diffConfig(yield* (yield* LiveConfig).get, loaded.success))) yield* reloadConfig(path, "file", env)
  }))
  yield* reloadTriggers(path).pipe(
    Stream.tap((trigger) => trigger === "SIGHUP" ? Ref.set(hangup, true) : Effect.void),
    Stream.debounce(settleTime),
    Stream.runForEach(() => Effect.gen(function*() {
      const trigger: ReloadTrigger = (yield* Ref.getAndSet(hangup, false)) ? "SIGHUP" : "file"
      const text = yield* readText
      if ((yield* Ref.getAndSet(lastText, text)) === text && trigger === "file") return
      yield* guarded(trigger, reloadConfig(path, trigger, env))
    })),
    Effect.forkScoped
  )
})
