// Provisions JETSCALE_LOGS, the stream that keeps worker output (`jetscale.logs.>`) for `maxAge` and
// up to `maxBytes`, oldest lines dropped first: created when missing, max_age, max_bytes (and
// subjects) updated in place, a recreate-only change refused.
import { DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream"
import { nanos } from "@nats-io/transport-node"
import { Duration, Effect } from "effect"
import { formatByteSize, formatShortDuration, parseByteSize } from "../config/duration.ts"
import { DEFAULTS } from "../config/schema.ts"
import { logsStream, logsSubjects } from "../jetstream/names.ts"
import { ProvisionError, replicasHint } from "../jetstream/provision.ts"
import { attemptWith, lookupWith } from "../effect/attempt.ts"

export type LogsProvisioned = "created" | "updated" | "unchanged"

/** `logs.maxBytes` when the caller passes none. */
export const defaultLogsMaxBytes = parseByteSize(DEFAULTS.logsMaxBytes)!

const fail = (message: string, cause?: unknown) => new ProvisionError({ message: `stream ${logsStream}: ${message}`, cause })

const call = attemptWith(fail)

const infoOrNull = (jsm: JetStreamManager) => lookupWith(fail)("info", () => jsm.streams.info(logsStream))

const recreateProblems = (c: StreamConfig): ReadonlyArray<string> => [
  ...(c.retention !== RetentionPolicy.Limits ? [`retention is ${c.retention}, jetscale needs limits`] : []),
  ...(c.storage !== StorageType.File ? [`storage is ${c.storage}, jetscale needs file`] : [])
]

/** Makes JETSCALE_LOGS exist with `max_age = maxAge` and `max_bytes = maxBytes`; idempotent. */
export const provisionLogs = (
  jsm: JetStreamManager,
  maxAge: Duration.Duration,
  maxBytes: number = defaultLogsMaxBytes,
  /** `jetstream.replicas`. */
  replicas = 1
): Effect.Effect<LogsProvisioned, ProvisionError> =>
  Effect.gen(function*() {
    if (Duration.isZero(maxAge)) return yield* fail("logs.maxAge must be > 0 (0 would keep logs forever)")
    if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) return yield* fail(`logs.maxBytes must be a size > 0, got ${maxBytes}`)
    const maxAgeNanos = nanos(Duration.toMillis(maxAge))
    const have = yield* infoOrNull(jsm)
    if (have === null) {
      yield* call(`create failed${replicasHint(replicas, "jetstream.replicas")}`, () => jsm.streams.add({
        name: logsStream,
        subjects: [logsSubjects],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        discard: DiscardPolicy.Old,
        max_age: maxAgeNanos,
        max_bytes: maxBytes,
        num_replicas: replicas,
        description: "jetscale worker output, one message per line"
      }))
      return "created" as const
    }
    const c = have.config
    const conflicts = recreateProblems(c)
    if (conflicts.length > 0) {
      return yield* fail(`${conflicts.join("; ")} (this needs the stream to be recreated: ` +
        `\`nats stream rm ${logsStream}\` (its stored lines are lost) and run jetscale again)`)
    }
    const subjects = (c.subjects ?? []).includes(logsSubjects) ? c.subjects : [...c.subjects ?? [], logsSubjects]
    if (c.max_age === maxAgeNanos && c.max_bytes === maxBytes && c.discard === DiscardPolicy.Old && subjects === c.subjects && (c.num_replicas || 1) === replicas) {
      return "unchanged" as const
    }
    yield* call(`update to max_age ${formatShortDuration(maxAge)}, max_bytes ${formatByteSize(maxBytes)}, ${replicas} replica(s) failed${replicasHint(replicas, "jetstream.replicas")}`, () =>
      jsm.streams.update(logsStream, { ...c, subjects, max_age: maxAgeNanos, max_bytes: maxBytes, discard: DiscardPolicy.Old, num_replicas: replicas }))
    return "updated" as const
  })
