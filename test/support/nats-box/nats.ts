// A stand-in for the `nats` CLI in the compose stack's `nats-box` service, for CI only, where the
// natsio/nats-box image cannot be pulled. It does the one thing the README asks of nats-box,
// `nats pub SUBJECT BODY`, with the same environment (NATS_URL, NATS_USER, NATS_PASSWORD), so the
// smoke test runs the README's command unchanged against the real service definition.
import { connect } from "@nats-io/transport-node"

const main = async () => {
  const [command, subject, body = ""] = process.argv.slice(2)
  if (command !== "pub" || !subject) {
    console.error("nats (jetscale CI stand-in): only `nats pub SUBJECT BODY` is implemented")
    return 2
  }
  const nc = await connect({ servers: process.env.NATS_URL ?? "nats://127.0.0.1:4222", user: process.env.NATS_USER ?? "", pass: process.env.NATS_PASSWORD ?? "" })
  let refused = ""
  void (async () => {
    for await (const s of nc.status()) if (s.type === "error") refused = s.error.message
  })()
  nc.publish(subject, body)
  await nc.flush()
  await nc.close()
  if (refused) {
    console.error(`nats: error: ${refused}`)
    return 1
  }
  console.log(`Published ${Buffer.byteLength(body)} bytes to "${subject}"`)
  return 0
}

main().then((code) => process.exit(code), (e: unknown) => {
  console.error(`nats: error: ${e instanceof Error ? e.message : String(e)}`)
  process.exit(1)
})
