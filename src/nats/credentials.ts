// NATS user/password credentials and the connect options they imply. Shared by the scaler, the CLI
// and the worker SDK (no Effect here: the worker bundle stays small).

export interface NatsCredentials {
  readonly user: string
  readonly password: string
}

/** Where to connect, and as whom (anonymous when `credentials` is absent). */
export interface NatsEndpoint {
  /** One server, or a cluster's servers separated by commas (as in NATS_URL). */
  readonly url: string
  readonly credentials?: NatsCredentials
}

/**
 * Each user's replies (requests, publish acks, pulled jobs) arrive on `_INBOX_<user>.>`, which
 * nats.conf lets only that user subscribe to: no user can read another's replies.
 */
export const inboxPrefixFor = (user: string): string => `_INBOX_${user}`

/** `nats://a:4222,nats://b:4222` -> the list of servers a client may connect to. */
export const natsServers = (url: string): Array<string> => url.split(",").map((s) => s.trim()).filter((s) => s !== "")

/** The `connect()` options for an endpoint: servers, user, pass and the user's inbox prefix. */
export const connectOptions = (endpoint: NatsEndpoint) => ({
  servers: natsServers(endpoint.url),
  ...(endpoint.credentials === undefined ? {} : {
    user: endpoint.credentials.user,
    pass: endpoint.credentials.password,
    inboxPrefix: inboxPrefixFor(endpoint.credentials.user)
  })
})

/** "nats://host:4222" or "nats://host:4222 as user worker", for error messages. */
export const endpointText = (endpoint: NatsEndpoint): string =>
  endpoint.credentials === undefined ? endpoint.url : `${endpoint.url} as user ${endpoint.credentials.user}`

/** The worker-side environment variables that carry credentials. */
export const credentialEnv = (credentials: NatsCredentials | undefined): Record<string, string> =>
  credentials === undefined ? {} : { NATS_USER: credentials.user, NATS_PASSWORD: credentials.password }

/** Credentials from NATS_USER / NATS_PASSWORD (both or neither). */
export const credentialsFromEnv = (env: Readonly<Record<string, string | undefined>>): NatsCredentials | undefined => {
  const user = env.NATS_USER?.trim()
  return user ? { user, password: env.NATS_PASSWORD ?? "" } : undefined
}
