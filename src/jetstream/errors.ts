// Recognising nats.js errors we branch on.
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream"

/** True for "stream not found" and "consumer not found" API errors. */
export const isNotFound = (e: unknown): boolean =>
  e instanceof JetStreamApiError &&
  (e.code === JetStreamApiCodes.StreamNotFound || e.code === JetStreamApiCodes.ConsumerNotFound)
