// `jetscale down`: drains and removes every managed worker of the configured queues.
import { Console, Effect } from "effect"
import { Nats } from "../nats/connection.ts"
import { Runtime } from "../runtime/driver.ts"
import { statusSubjectOf } from "../jetstream/names.ts"
import { servicesWithLogs } from "../logs/services.ts"
import { load, reportFailure } from "./common.ts"

export const runDown = ({ config: path }: { readonly config: string }) =>
  Effect.gen(function*() {
    const config = yield* load(path)
    yield* Effect.gen(function*() {
      const { nc } = yield* Nats
      const runtime = yield* Runtime
      const scalerRunning = yield* Effect.promise(() => nc.request(statusSubjectOf(config.deployment), "", { timeout: 500 }).then(() => true, () => false))
      if (scalerRunning) yield* Console.error("jetscale: warning: a scaler (jetscale up) is running and will start workers again when jobs arrive; stop it first")
      if (runtime.name === "process") {
        yield* Console.log("process workers belong to the jetscale up that started them; stopping it (Ctrl-C) drains them")
        return
      }
      const stopped = yield* Effect.forEach(config.queues, (q) => Effect.gen(function*() {
        const workers = yield* runtime.list(q.name)
        yield* Effect.forEach(workers, (w) => w.state !== "exited" ? runtime.stop(w, q.stopTimeout) : runtime.remove(w), { concurrency: "unbounded", discard: true })
        yield* Console.log(`${q.name}: ${workers.length} worker(s) drained and removed`)
        return workers.length
      }), { concurrency: "unbounded" })
      yield* Console.log(`down: ${stopped.reduce((a, b) => a + b, 0)} worker(s) removed`)
    }).pipe(Effect.provide(servicesWithLogs(config, "jetscale-down")))
  }).pipe(reportFailure)
