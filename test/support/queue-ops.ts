// What worker tests do to a queue on the file's nats-server: provision a unique one, publish JSON
// jobs to it, and read its stream and consumer.
import { jetstream } from "@nats-io/jetstream"
import { Effect } from "effect"
import type { QueueConfig } from "../../src/config/model.ts"
import { provisionQueue } from "../../src/jetstream/provision.ts"
import type { NatsFixture } from "./nats-fixture.ts"
import { testQueue } from "./queue.ts"

export const queueOps = (nats: NatsFixture, prefix: string) => ({
  /** A provisioned queue named `<prefix>-...`. */
  setup: async (over: Partial<QueueConfig> = {}) => {
    const q = testQueue(prefix, over)
    await Effect.runPromise(provisionQueue(nats.jsm, q))
    return q
  },
  /** Publishes each payload as JSON to the queue's first subject, one after the other. */
  publish: async (q: QueueConfig, payloads: ReadonlyArray<unknown>) => {
    const js = jetstream(nats.nc)
    for (const p of payloads) await js.publish(q.subjects[0]!, JSON.stringify(p))
  },
  consumer: (q: QueueConfig) => nats.jsm.consumers.info(q.stream, q.consumer),
  streamMessages: async (q: QueueConfig) => (await nats.jsm.streams.info(q.stream)).state.messages
})
