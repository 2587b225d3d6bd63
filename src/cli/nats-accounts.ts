// `jetscale nats-accounts [--out FILE]`: writes the `accounts` that nats.conf includes, from the
// config: the publisher, the scaler, and one worker user per queue with grants for that queue
// alone. Run it (./stack up does) whenever queues change, then reload nats-server.
import { Console, Effect, Option, Schema } from "effect"
import { writeFile } from "node:fs/promises"
import { renderAccounts } from "../nats/accounts-conf.ts"
import { attemptWith } from "../effect/attempt.ts"
import { load, reportFailure } from "./common.ts"

export class NatsAccountsError extends Schema.TaggedError<NatsAccountsError>()("NatsAccountsError", { message: Schema.String }) {}

export const runNatsAccounts = ({ config: path, out }: { readonly config: string; readonly out: Option.Option<string> }) =>
  Effect.gen(function*() {
    const config = yield* load(path)
    const workerSecret = process.env.JETSCALE_WORKER_PASSWORD ?? ""
    if (workerSecret === "") {
      return yield* new NatsAccountsError({ message: "JETSCALE_WORKER_PASSWORD: required: every queue's worker password is derived from it (the scaler derives the same)" })
    }
    const text = renderAccounts({ config, workerSecret })
    if (Option.isNone(out)) return yield* Console.log(text)
    yield* attemptWith((message) => new NatsAccountsError({ message }))(`cannot write ${out.value}`, () => writeFile(out.value, text, { mode: 0o600 }))
    yield* Console.log(`nats-accounts: ${config.queues.length} queue worker user(s) written to ${out.value}; reload nats-server to apply`)
  }).pipe(reportFailure)
