// The dashboard's login. A browser cannot send the bearer header when it navigates, so `POST /login`
// with the right token sets a session cookie (HttpOnly, SameSite=Strict): its value is the time of
// the login and an HMAC of it and the token under a key made at start, never the token itself; it
// lasts `sessionMaxAgeMs`, ends with `/logout` (here too, not only in the browser), and is worth
// nothing after a restart or to another scaler. A request the cookie authorizes that changes something must come
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
  /** Whether a `jetscale_session` cookie value is a live session of this process for the token. */
  readonly valid: (cookie: string | undefined) => boolean
  /** A new session's cookie value for a right token; undefined for a wrong one. */
  readonly login: (candidate: string) => string | undefined
  /** Ends the session (a later request with a copy of the cookie is refused). */
  readonly logout: (cookie: string | undefined) => void
}

/** How long a dashboard session lasts. */
export const sessionMaxAgeMs = 12 * 3600 * 1000
/** Sessions ended by `/logout` are remembered until they would have expired, at most this many. */
const maxEnded = 10_000

export const makeSessions = (token: string | undefined, now: () => number = Date.now): Sessions => {
  if (token === undefined || token === "") return { required: false, valid: () => true, login: () => "", logout: () => {} }
  const key = randomBytes(32)
  const sign = (issued: string) => createHmac("sha256", key).update(`${issued}.${token}`, "utf8").digest("base64url")
  const isToken = makeTokenCheck(token)
  // Ended sessions by value, with when they would have expired anyway (Map: insertion order = oldest first).
  const ended = new Map<string, number>()
  const issuedAt = (cookie: string | undefined): number | undefined => {
    const m = /^(\d{1,15})\.([A-Za-z0-9_-]{43})$/.exec(cookie ?? "")
    if (m === null || !makeTokenCheck(sign(m[1]!))(m[2]!)) return undefined
    return Number(m[1])
  }
  const valid = (cookie: string | undefined) => {
    const issued = issuedAt(cookie)
    const t = now()
    return issued !== undefined && issued <= t && t - issued < sessionMaxAgeMs && !ended.has(cookie!)
  }
  return {
    required: true,
    valid,
    login: (candidate) => {
      if (!isToken(candidate)) return undefined
      const issued = String(now())
      return `${issued}.${sign(issued)}`
    },
    logout: (cookie) => {
      const issued = issuedAt(cookie)
      if (issued === undefined || !valid(cookie)) return
      const t = now()
      for (const [value, expires] of ended) if (expires <= t || ended.size >= maxEnded) ended.delete(value)
      ended.set(cookie!, issued + sessionMaxAgeMs)
    }
  }
}

const attributes = `Path=/; HttpOnly; SameSite=Strict; Max-Age=${sessionMaxAgeMs / 1000}`

/** `Set-Cookie` for a session. */
export const sessionCookie = (value: string): string => `${sessionCookieName}=${value}; ${attributes}`
/** `Set-Cookie` that ends a session. */
export const clearedSessionCookie = `${sessionCookieName}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`

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
