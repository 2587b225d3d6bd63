// Schemas for the short human units used in jetscale.yaml: durations (`30s`, `5m`, `250ms`)
// and byte sizes (`256m`, `1g`, `512k`, `1024`).
import { Duration, Effect, Option, Schema, SchemaIssue, SchemaTransformation } from "effect"
import { formatMillis } from "./format.ts"

const durationUnits = { ms: "millis", s: "seconds", m: "minutes", h: "hours", d: "days" } as const
const durationPattern = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/

/** Formats a duration back into the short form (`1500ms` -> `1500ms`, 30 s -> `30s`). */
export const formatShortDuration = (d: Duration.Duration): string => formatMillis(Duration.toMillis(d))

export { formatMillis }

/** `"30s" | "5m" | "250ms" | "1.5h" | "2d"` <-> `Duration`. */
export const ShortDuration = Schema.String.annotate({ expected: "a duration like 30s, 5m or 250ms" }).pipe(
  Schema.decodeTo(
    Schema.Duration,
    SchemaTransformation.transformEffect({
      decode: (s, options) => {
        const m = durationPattern.exec(s.trim())
        return m
          ? Effect.succeed(Duration.fromInputUnsafe(`${Number(m[1])} ${durationUnits[m[2] as keyof typeof durationUnits]}`))
          : Effect.fail(new SchemaIssue.InvalidValue({ message: `invalid duration ${JSON.stringify(s)} (use 30s, 5m, 250ms)` }, s, options))
      },
      encode: (d) => Effect.succeed(formatShortDuration(d))
    })
  )
)

/** `"30s"` -> 30000 (`2d`, `1.5h`, `250ms`); undefined when it is not a short duration. */
export const shortDurationMillis = (text: string): number | undefined =>
  Option.getOrUndefined(Option.map(Schema.decodeUnknownOption(ShortDuration)(text), Duration.toMillis))

/** A duration check: at least `min` (inclusive), with a message naming the bound and the value. */
export const isDurationAtLeast = (min: Duration.Duration) =>
  Schema.makeFilter<Duration.Duration>((d) =>
    Duration.isGreaterThanOrEqualTo(d, min) || `expected a duration >= ${formatShortDuration(min)}, got ${formatShortDuration(d)}`
  )

/** A duration check: strictly positive. */
export const isDurationPositive = Schema.makeFilter<Duration.Duration>((d) =>
  !Duration.isZero(d) || "expected a duration > 0, got 0s"
)

const byteUnits: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }
const bytePattern = /^(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?$/i

/** Parses `256m`, `1g`, `512k`, `256MiB`, `1024` (binary units, case-insensitive) into bytes. */
export const parseByteSize = (s: string): number | undefined => {
  const m = bytePattern.exec(s.trim())
  if (!m) return undefined
  const bytes = Math.floor(Number(m[1]) * byteUnits[m[2]!.toLowerCase()]!)
  return Number.isSafeInteger(bytes) ? bytes : undefined
}

/** Formats a byte count in the largest exact binary unit (`268435456` -> `256m`). */
export const formatByteSize = (bytes: number): string => {
  for (const unit of ["t", "g", "m", "k"]) {
    const size = byteUnits[unit]!
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`
  }
  return `${bytes}`
}

/** A size in bytes: a non-negative integer, or a string like `256m`, `1g`, `512k`, `256MiB`. */
export const ByteSize = Schema.Union([Schema.Number, Schema.String]).annotate({ expected: "a size like 256m, 1g or 512k" }).pipe(
  Schema.decodeTo(
    Schema.Number,
    SchemaTransformation.transformEffect({
      decode: (input, options) => {
        const bytes = typeof input === "number"
          ? (Number.isSafeInteger(input) && input >= 0 ? input : undefined)
          : parseByteSize(input)
        return bytes === undefined
          ? Effect.fail(new SchemaIssue.InvalidValue({ message: `invalid size ${JSON.stringify(input)} (use 512k, 256m, 1g)` }, input, options))
          : Effect.succeed(bytes)
      },
      encode: (bytes) => Effect.succeed(formatByteSize(bytes))
    })
  )
)
