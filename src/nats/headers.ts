// NATS headers as plain records and back (multiple values of one key are joined with commas).
import { headers, type MsgHdrs } from "@nats-io/transport-node"

export const headersToRecord = (h: MsgHdrs | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const [k, v] of h ?? []) out[k] = v.join(",")
  return out
}

export const recordToHeaders = (r: Readonly<Record<string, string>>): MsgHdrs => {
  const h = headers()
  for (const [k, v] of Object.entries(r)) h.set(k, v)
  return h
}
