// What a worker does with failed jobs besides NAKing them: keep each attempt's error in the
// `jetscale_errors` KV bucket, and copy jobs that can never succeed to the DLQ.
import type { JetStreamClient } from "@nats-io/jetstream"
import { Kvm } from "@nats-io/kv"
import { deleteErrorRecord, writeErrorRecord } from "../dlq/error-record.ts"
import { deadLetterHeaders, deadLetterMsgId } from "../dlq/message.ts"
import { dlqSubject, errorsBucket } from "../jetstream/names.ts"
import type { FailureHooks } from "./job.ts"
import type { WorkerSettings } from "./settings.ts"

export const makeFailureHooks = async (js: JetStreamClient, settings: WorkerSettings, maxDeliver: number): Promise<FailureHooks> => {
  // The scaler provisions the bucket; without it, errors are simply not recorded.
  const errors = await new Kvm(js).open(errorsBucket).catch(() => undefined)
  return {
    maxDeliver,
    record: async (m, e, deliveries) => {
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
      if (errors && m.info.deliveryCount > 1) await deleteErrorRecord(errors, settings.stream, m.seq)
    }
  }
}
