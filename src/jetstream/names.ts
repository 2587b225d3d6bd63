// The public JetStream and NATS names jetscale uses; other tools rely on them.

/** `demo-jobs` -> `JETSCALE_DEMO_JOBS`. */
export const streamName = (queue: string): string => `JETSCALE_${queue.toUpperCase().replaceAll("-", "_")}`

/** The one durable pull consumer every queue's workers share. */
export const consumerName = "workers"

/** Scale decisions are published here as JSON. */
export const scaleEventSubject = (queue: string): string => `jetscale.events.scale.${queue}`

/** Labels on every worker container; jetscale never touches containers without them. */
export const labels = {
  managed: "io.jetscale.managed",
  queue: "io.jetscale.queue",
  instance: "io.jetscale.instance"
} as const
