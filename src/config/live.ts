// The running config, shared by the scaler, the job route and the dashboard: a live reload
// (../scaler/reload.ts) replaces it whole, and a refused one leaves it in place with its problems.
// Readers take the current config on each use rather than keeping a copy.
import { Context, Effect, Layer, Ref } from "effect"
import type { JetscaleConfig, QueueConfig } from "./model.ts"

/** A config file that was refused: the running config stayed. */
export interface RefusedConfig {
  readonly at: string
  /** One `path: reason` line per problem (or a single line: unreadable file, bad YAML). */
  readonly problems: ReadonlyArray<string>
}

export class LiveConfig extends Context.Service<LiveConfig, {
  readonly get: Effect.Effect<JetscaleConfig>
  readonly queues: Effect.Effect<ReadonlyArray<QueueConfig>>
  readonly queue: (name: string) => Effect.Effect<QueueConfig | undefined>
  /** Replaces the running config (and forgets a refused one). */
  readonly set: (config: JetscaleConfig) => Effect.Effect<void>
  /** The last refused config since the running one was applied; null when none. */
  readonly refused: Effect.Effect<RefusedConfig | null>
  readonly refuse: (refused: RefusedConfig) => Effect.Effect<void>
}>()("jetscale/LiveConfig") {}

interface State {
  readonly config: JetscaleConfig
  /** The config's queues by name: looked up on every worker report and job. */
  readonly queues: ReadonlyMap<string, QueueConfig>
  readonly refused: RefusedConfig | null
}

const running = (config: JetscaleConfig): State => ({ config, queues: new Map(config.queues.map((q) => [q.name, q])), refused: null })

export const make = (initial: JetscaleConfig) => Effect.gen(function*() {
  const state = yield* Ref.make<State>(running(initial))
  const get = Effect.map(Ref.get(state), (s) => s.config)
  return LiveConfig.of({
    get,
    queues: Effect.map(get, (c) => c.queues),
    queue: (name) => Effect.map(Ref.get(state), (s) => s.queues.get(name)),
    set: (config) => Ref.set(state, running(config)),
    refused: Effect.map(Ref.get(state), (s) => s.refused),
    refuse: (refused) => Ref.update(state, (s) => ({ ...s, refused }))
  })
})

export const layer = (initial: JetscaleConfig) => Layer.effect(LiveConfig, make(initial))

/** `queue X is not in the config (queues: a, b)`: the one wording for an unknown queue. */
export const unknownQueueMessage = (queue: string, queues: ReadonlyArray<QueueConfig>) =>
  `queue ${queue} is not in the config (queues: ${queues.map((q) => q.name).join(", ") || "none"})`
