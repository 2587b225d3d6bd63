// Credentials for the admin API: the bearer token, compared in constant time (as SHA-256 digests, so
// the lengths always match and the token's length does not leak either).
import { createHash, timingSafeEqual } from "node:crypto"

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest()

/** A constant-time check of a candidate against `token`; undefined never matches. */
export const makeTokenCheck = (token: string): ((candidate: string | undefined) => boolean) => {
  const expected = digest(token)
  // Compare something of the same cost even when there is no candidate.
  return (candidate) => timingSafeEqual(digest(candidate ?? ""), expected) && candidate !== undefined
}

/** A checker for `Authorization` header values; with no token configured everything passes. */
export const makeBearerCheck = (token: string | undefined): ((authorization: string | undefined) => boolean) => {
  if (token === undefined || token === "") return () => true
  const matches = makeTokenCheck(token)
  return (authorization) => {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? "")
    return matches(m?.[1]) && m !== null
  }
}
