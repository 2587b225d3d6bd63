// Recognising nats.js errors we branch on.
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream"

/** True for "stream not found" and "consumer not found" API errors. */
export const isNotFound = (e: unknown): boolean =>
  e instanceof JetStreamApiError &&
  (e.code === JetStreamApiCodes.StreamNotFound || e.code === JetStreamApiCodes.ConsumerNotFound)

/** True when a message asked for by sequence (get or delete) is not in its stream, or the stream is gone. */
export const isMessageGone = (e: unknown): boolean =>
  isNotFound(e) ||
  (e instanceof JetStreamApiError && e.code === JetStreamApiCodes.NoMessageFound) ||
  (e instanceof Error && /no message found|not found/i.test(e.message))
