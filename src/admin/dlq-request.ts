// What the DLQ routes take from outside, checked by hand so every refusal names its field:
// `GET /api/queues/<name>/dlq?limit=N` and the body of `POST /api/queues/<name>/dlq/replay`,
// `{"seqs": [12, 15]}` or `{"all": true}`.
import { Result } from "effect"

export const defaultDlqLimit = 20
export const maxDlqLimit = 100
/** A replay by sequence names at most this many dead letters (`all` takes any number). */
export const maxReplaySeqs = 100

const show = (v: unknown): string => v === undefined ? "nothing" : JSON.stringify(v) ?? String(v)

/** The `limit` query parameter: absent is the default; otherwise an integer from 1 to 100. */
export const parseDlqLimit = (raw: string | ReadonlyArray<string> | undefined): Result.Result<number, string> => {
  if (raw === undefined) return Result.succeed(defaultDlqLimit)
  if (typeof raw !== "string") return Result.fail("limit: expected one value, got several")
  const n = /^\d{1,4}$/.test(raw) ? Number(raw) : Number.NaN
  return n >= 1 && n <= maxDlqLimit ? Result.succeed(n) : Result.fail(`limit: expected an integer from 1 to ${maxDlqLimit}, got ${JSON.stringify(raw)}`)
}

export type ReplayRequest = { readonly all: true } | { readonly all: false; readonly seqs: ReadonlyArray<number> }

const example = `{"seqs": [12, 15]} or {"all": true}`

/** The replay body; the failure is the message for a 400. */
export const parseReplayBody = (text: string): Result.Result<ReplayRequest, string> => {
  if (text.trim() === "") return Result.fail(`body: expected ${example}, got an empty body`)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (e) {
    return Result.fail(`body: invalid JSON (${e instanceof Error ? e.message : String(e)})`)
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return Result.fail(`body: expected ${example}, got ${show(value)}`)
  const body = value as Record<string, unknown>
  const unknown = Object.keys(body).filter((k) => k !== "seqs" && k !== "all")
  if (unknown.length > 0) return Result.fail(`body: unknown field ${unknown.map((k) => JSON.stringify(k)).join(", ")} (expected seqs or all)`)
  const { seqs, all } = body
  if (seqs !== undefined && all !== undefined) return Result.fail(`body: seqs and all together; send one: ${example}`)
  if (all !== undefined) return all === true ? Result.succeed({ all: true }) : Result.fail(`all: expected true, got ${show(all)}`)
  if (seqs === undefined) return Result.fail(`body: expected ${example}, got neither seqs nor all`)
  if (!Array.isArray(seqs) || seqs.length === 0 || seqs.length > maxReplaySeqs) {
    return Result.fail(`seqs: expected a list of 1 to ${maxReplaySeqs} DLQ sequence numbers, got ${Array.isArray(seqs) ? `${seqs.length} items` : show(seqs)}`)
  }
  const bad = seqs.findIndex((n) => typeof n !== "number" || !Number.isSafeInteger(n) || n < 1)
  if (bad >= 0) return Result.fail(`seqs[${bad}]: expected a DLQ sequence number (an integer >= 1), got ${show(seqs[bad])}`)
  return Result.succeed({ all: false, seqs: [...new Set(seqs as ReadonlyArray<number>)] })
}
