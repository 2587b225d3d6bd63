// What a worker does with failed jobs besides NAKing them: keep each attempt's error in the
// `jetscale_errors` KV bucket, and copy jobs that can never succeed to the DLQ.
import type { JetStreamClient } from "@nats-io/jetstream"
import { Kvm, type KV } from "@nats-io/kv"
import { deleteErrorRecord, writeErrorRecord } from "../dlq/error-record.ts"
import { deadLetterHeaders, deadLetterMsgId } from "../dlq/message.ts"
import { dlqSubject, errorsBucket } from "../jetstream/names.ts"
import type { FailureHooks } from "./job.ts"
import type { WorkerSettings } from "./settings.ts"

/** `maxDeliver`: each consumer's max_deliver by name (-1: unlimited). */
export const makeFailureHooks = (js: JetStreamClient, settings: WorkerSettings, maxDeliver: ReadonlyMap<string, number>): FailureHooks => {
  // Opened on the first failure, not on the way to the first job. The scaler provisions the
  // bucket; without it, errors are simply not recorded.
  let opened: Promise<KV | undefined> | undefined
  const bucket = () => opened ??= new Kvm(js).open(errorsBucket).catch(() => undefined)
  return {
    isLast: (m) => {
      const limit = maxDeliver.get(m.info.consumer) ?? maxDeliver.values().next().value ?? -1
      return limit > 0 && m.info.deliveryCount >= limit
    },
    record: async (m, e, deliveries) => {
      const errors = await bucket()
      if (!errors) return
      await writeErrorRecord(errors, settings.stream, m.seq, {
        message: e instanceof Error ? e.message : String(e),
        name: e instanceof Error ? e.name : "Error",
        attempt: deliveries,
        instance: settings.instance,
        at: new Date().toISOString()
      })
    },
    clear: async (m) => {
      const errors = await bucket()
      if (errors) await deleteErrorRecord(errors, settings.stream, m.seq)
    },
    deadLetter: async (m, reason, error) => {
      const headers = deadLetterHeaders(m.headers, {
        queue: settings.queue, stream: settings.stream, subject: m.subject, streamSeq: m.seq,
        deliveries: m.info.deliveryCount, reason, error, failedAt: new Date()
      })
      const storedAtMs = Math.floor(m.info.timestampNanos / 1e6)
      await js.publish(dlqSubject(settings.queue), m.data, { headers, msgID: deadLetterMsgId(settings.stream, m.seq, storedAtMs) })
      // An earlier attempt may have failed retryably and left a record.
      const errors = m.info.deliveryCount > 1 ? await bucket() : undefined
      if (errors) await deleteErrorRecord(errors, settings.stream, m.seq)
    }
  }
}
