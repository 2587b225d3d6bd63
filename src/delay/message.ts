// The headers of a delayed job: what a producer adds to send a job to `jetscale.delayed.<queue>`,
// and what the released copy in the work queue keeps (the job's own headers, traceparent included;
// none of the delay's, nor NATS's publish options such as Nats-Msg-Id).
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node"
import { notBeforeHeader } from "../jetstream/names.ts"
import { formatInstant } from "./not-before.ts"

/** The subject a delayed job is meant for (one its queue captures); the queue's first subject when absent. */
export const subjectHeader = "Jetscale-Subject"
/** On a released job: the time it waited for (RFC 3339). */
export const delayedUntilHeader = "Jetscale-Delayed-Until"

const dropped = new Set([notBeforeHeader, subjectHeader, delayedUntilHeader].map((h) => h.toLowerCase()))

/** `base` plus the headers that make it a delayed job due at `due`, meant for `subject`. */
export const delayedHeaders = (base: MsgHdrs | undefined, due: number, subject: string): MsgHdrs => {
  const h = copy(base, (key) => !dropped.has(key.toLowerCase()))
  h.set(notBeforeHeader, formatInstant(due))
  h.set(subjectHeader, subject)
  return h
}

/** The headers of the released copy: the job's own, plus when it was due (when it had a time). */
export const releasedHeaders = (original: MsgHdrs | undefined, due: number | undefined): MsgHdrs => {
  const h = copy(original, (key) => !dropped.has(key.toLowerCase()) && !key.toLowerCase().startsWith("nats-"))
  if (due !== undefined) h.set(delayedUntilHeader, formatInstant(due))
  return h
}

const copy = (from: MsgHdrs | undefined, keep: (key: string) => boolean): MsgHdrs => {
  const h = natsHeaders()
  for (const key of from?.keys() ?? []) {
    if (!keep(key)) continue
    for (const value of from!.values(key)) h.append(key, value)
  }
  return h
}
