// A per-file fixture: one real nats-server, a client connection and a JetStream manager, started
// before the file's tests and stopped after them. Read its fields inside tests and hooks.
import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream"
import { connect, type NatsConnection } from "@nats-io/transport-node"
import { afterAll, beforeAll } from "vitest"
import { startNatsServer, type NatsServer } from "./nats-server.ts"

export interface NatsFixture {
  readonly server: NatsServer
  readonly nc: NatsConnection
  readonly jsm: JetStreamManager
}

export const useNatsServer = (): NatsFixture => {
  const fixture = {} as { server: NatsServer; nc: NatsConnection; jsm: JetStreamManager }
  beforeAll(async () => {
    fixture.server = await startNatsServer()
    fixture.nc = await connect({ servers: fixture.server.url })
    fixture.jsm = await jetstreamManager(fixture.nc)
  })
  afterAll(async () => {
    await fixture.nc?.close()
    await fixture.server?.stop()
  })
  return fixture
}
