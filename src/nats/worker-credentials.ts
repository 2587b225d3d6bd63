// Per-queue worker credentials: the workers of queue `demo` connect as `<workerUser>-demo`, whose
// NATS permissions cover that queue alone (see ./accounts-conf.ts). Each queue's password is derived
// from the one secret JETSCALE_WORKER_PASSWORD, so the scaler and `jetscale nats-accounts` agree on
// it without storing one per queue, and a worker never learns another queue's password.
import { createHmac } from "node:crypto"
import type { NatsCredentials } from "./credentials.ts"

/** The NATS user of one queue's workers. */
export const queueWorkerUser = (workerUser: string, queue: string): string => `${workerUser}-${queue}`

/** The password of `user`, derived from the workers' secret (letters and digits only, a letter first). */
export const derivedPassword = (secret: string, user: string): string =>
  `w${createHmac("sha256", secret).update(`jetscale worker ${user}`).digest("hex").slice(0, 40)}`

/** The credentials the workers of `queue` get, from the configured worker user and secret. */
export const queueWorkerCredentials = (worker: NatsCredentials, queue: string): NatsCredentials => {
  const user = queueWorkerUser(worker.user, queue)
  return { user, password: derivedPassword(worker.password, user) }
}
