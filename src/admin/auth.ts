// Bearer-token check for the admin API: a constant-time comparison (of SHA-256 digests, so the
// lengths always match and the token's length does not leak either).
import { createHash, timingSafeEqual } from "node:crypto"

const digest = (s: string) => createHash("sha256").update(s, "utf8").digest()

/** A checker for `Authorization` header values; with no token configured everything passes. */
export const makeBearerCheck = (token: string | undefined): ((authorization: string | undefined) => boolean) => {
  if (token === undefined || token === "") return () => true
  const expected = digest(token)
  return (authorization) => {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? "")
    // Compare something of the same cost even when the header is missing or malformed.
    const ok = timingSafeEqual(digest(m?.[1] ?? ""), expected)
    return m !== null && ok
  }
}
