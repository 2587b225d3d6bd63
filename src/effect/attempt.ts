// The one wrapper for Promise-returning calls (nats.js, dockerode, the file system): a rejection
// becomes the caller's tagged error, whose message says what was being done and why it failed
// (`stream JETSCALE_DEMO: create failed: insufficient resources`), with the cause kept.
import { Effect } from "effect"
import { isNotFound } from "../jetstream/errors.ts"

/** A foreign error as one line of text. */
export const describe = (cause: unknown): string =>
  cause instanceof Error ? cause.message || cause.name : String(cause)

/** `attempt(what, f)` for errors made by `make(message, cause)`. */
export const attemptWith = <E>(make: (message: string, cause: unknown) => E) =>
  <A>(what: string, f: () => Promise<A>): Effect.Effect<A, E> =>
    Effect.tryPromise({ try: f, catch: (cause) => make(`${what}: ${describe(cause)}`, cause) })

/** Like `attemptWith`, for lookups: a stream or consumer that does not exist is `null`, not an error. */
export const lookupWith = <E>(make: (message: string, cause: unknown) => E) =>
  <A>(what: string, f: () => Promise<A>): Effect.Effect<A | null, E> =>
    Effect.tryPromise({ try: f, catch: (cause) => cause }).pipe(
      Effect.map((a): A | null => a),
      Effect.catch((cause) => isNotFound(cause) ? Effect.succeed(null) : Effect.fail(make(`${what}: ${describe(cause)}`, cause)))
    )
