// Payload decoding: JSON, then the worker's Schema when it has one; the error names the field that
// is wrong. The Schema machinery is loaded only for a worker with a schema (whose own code has loaded
// it already), so `import "jetscale/worker"` stays light.
import type * as Schema from "effect/Schema"

export class InvalidPayloadError extends Error {
  override readonly name = "InvalidPayloadError"
  readonly nonRetryable = true
}

/** Turns a payload into the handler's input, or throws InvalidPayloadError. */
export type Decode<A> = (data: Uint8Array) => A

const parseJson = (data: Uint8Array): unknown => {
  try {
    return JSON.parse(new TextDecoder().decode(data))
  } catch (e) {
    throw new InvalidPayloadError(`payload is not JSON: ${(e as Error).message}`)
  }
}

export const makeDecoder = async <A>(schema: Schema.Codec<A, unknown> | undefined): Promise<Decode<A>> => {
  if (schema === undefined) return (data) => parseJson(data) as A
  const [SchemaModule, Result, { formatProblem, issueProblems }] = await Promise.all([
    import("effect/Schema"), import("effect/Result"), import("../config/errors.ts")
  ])
  const decode = SchemaModule.decodeUnknownResult(schema, { errors: "all" })
  return (data) => {
    const decoded = decode(parseJson(data))
    if (Result.isFailure(decoded)) {
      const problems = issueProblems(decoded.failure.issue).map(formatProblem)
      throw new InvalidPayloadError(`payload does not match the schema: ${problems.join("; ") || decoded.failure.message}`)
    }
    return decoded.success
  }
}
