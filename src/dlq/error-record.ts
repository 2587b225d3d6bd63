// The last error of a failed attempt, kept in the `jetscale_errors` KV bucket by stream and sequence,
// so the dead-letter step can report it even when the worker of the last attempt is gone.
import type { KV } from "@nats-io/kv"
import { errorKey } from "../jetstream/names.ts"

export interface ErrorRecord {
  readonly message: string
  readonly name: string
  readonly attempt: number
  readonly instance: string
  readonly at: string
}

export const writeErrorRecord = (kv: KV, stream: string, seq: number, record: ErrorRecord) =>
  kv.put(errorKey(stream, seq), JSON.stringify(record))

/** The record, or undefined when none was written (or it expired). Rejects when the KV can't be read. */
export const readErrorRecord = async (kv: KV, stream: string, seq: number): Promise<ErrorRecord | undefined> => {
  const entry = await kv.get(errorKey(stream, seq))
  if (!entry || entry.operation !== "PUT") return undefined
  try {
    return entry.json<ErrorRecord>()
  } catch {
    return undefined
  }
}

export const deleteErrorRecord = (kv: KV, stream: string, seq: number) =>
  kv.purge(errorKey(stream, seq)).catch(() => {})

export const errorRecordText = (r: ErrorRecord): string => `${r.name}: ${r.message}`
