// The dashboard's login. A browser cannot send the bearer header when it navigates, so `POST /login`
// with the right token sets a session cookie (HttpOnly, SameSite=Strict): its value is an HMAC of
// the token under a key made at start, never the token itself, and it is worth nothing after a
// restart or to another scaler. A request the cookie authorizes that changes something must come
// from the page's own origin when the browser says where it comes from (SameSite does the rest).
import { createHmac, randomBytes } from "node:crypto"
import { Result } from "effect"
import { makeTokenCheck } from "./auth.ts"

export const sessionCookieName = "jetscale_session"
/** A login form body larger than this is refused. */
export const maxLoginBodyBytes = 4096

export interface Sessions {
  /** Whether a token is configured (without one there is nothing to log in to). */
  readonly required: boolean
  /** Whether a `jetscale_session` cookie value is this process's session for the token. */
  readonly valid: (cookie: string | undefined) => boolean
  /** The cookie value for a right token; undefined for a wrong one. */
  readonly login: (candidate: string) => string | undefined
}

export const makeSessions = (token: string | undefined): Sessions => {
  if (token === undefined || token === "") return { required: false, valid: () => true, login: () => "" }
  const session = createHmac("sha256", randomBytes(32)).update(token, "utf8").digest("base64url")
  const isSession = makeTokenCheck(session)
  const isToken = makeTokenCheck(token)
  return { required: true, valid: isSession, login: (candidate) => isToken(candidate) ? session : undefined }
}

const attributes = "Path=/; HttpOnly; SameSite=Strict"

/** `Set-Cookie` for a session. */
export const sessionCookie = (value: string): string => `${sessionCookieName}=${value}; ${attributes}`
/** `Set-Cookie` that ends a session. */
export const clearedSessionCookie = `${sessionCookieName}=; ${attributes}; Max-Age=0`

/** The `token` field of an `application/x-www-form-urlencoded` login body; the failure is the message. */
export const parseLoginForm = (text: string): Result.Result<string, string> => {
  const token = new URLSearchParams(text).get("token")
  if (token === null || token.trim() === "") return Result.fail("token: required")
  return Result.succeed(token.trim())
}

/**
 * Whether a browser's `Origin` header (absent from requests that are not cross-origin capable) names
 * the host the request was sent to.
 */
export const sameOrigin = (origin: string | undefined, host: string | undefined): boolean => {
  if (origin === undefined) return true
  try {
    return host !== undefined && new URL(origin).host === host.toLowerCase()
  } catch {
    return false
  }
}
