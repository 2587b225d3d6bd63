// What every admin route shares: JSON answers (errors are `{"error": "..."}`), the `:name` path
// parameter, query parameters, and request bodies read up to a size.
import { ByteSize, Effect, Result } from "effect"
import { HttpIncomingMessage, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"

export const json = (body: unknown, status = 200) => HttpServerResponse.jsonUnsafe(body, { status })
export const error = (status: number, message: string) => json({ error: message }, status)

/** The `:name` path parameter (decoded by the router). */
export const queueParam = Effect.map(HttpRouter.params, (p) => p["name"] ?? "")

/** A query parameter: undefined when absent, an array when given more than once. */
export const queryParam = (request: HttpServerRequest.HttpServerRequest, name: string): string | ReadonlyArray<string> | undefined => {
  const all = new URL(request.url, "http://admin").searchParams.getAll(name)
  return all.length === 0 ? undefined : all.length === 1 ? all[0] : all
}

/** Reads a request body of at most `maxBytes`; undefined when it is larger (or the client went away). */
export const readBody = (request: HttpServerRequest.HttpServerRequest, maxBytes: number) => Effect.gen(function*() {
  if (Number(request.headers["content-length"] ?? 0) > maxBytes) return undefined
  const text = yield* request.text.pipe(Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(maxBytes)), Effect.result)
  return Result.isSuccess(text) ? text.success : undefined
})
