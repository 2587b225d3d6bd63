// `jetscale dlq list | show | replay | purge`: the dead-letter queue from the command line.
import { Console, Effect, Layer, Option } from "effect"
import type { JetscaleConfig } from "../config/model.ts"
import { QUEUE_NAME_PATTERN } from "../config/schema.ts"
import { getDeadLetter, listDeadLetters, type DeadLetterEntry } from "../dlq/read.ts"
import { purge, selectSeqs, type Selection } from "../dlq/replay.ts"
import { DlqError, replaySelection, tryDlq, type ReplayListener } from "../dlq/replay-run.ts"
import { Nats, layer as natsLayer } from "../nats/connection.ts"
import * as Tracing from "../telemetry/tracing.ts"
import { load, reportFailure } from "./common.ts"
import { renderTable } from "./table.ts"

/** Runs `f` with a NATS connection from the config; its failures become one-line errors. */
const withNats = <A>(path: string, f: (nats: Nats["Service"]) => Promise<A>) =>
  Effect.gen(function*() {
    const config = yield* load(path)
    return yield* Effect.flatMap(Nats, (nats) => tryDlq(() => f(nats))).pipe(Effect.provide(natsLayer(config.nats, "jetscale-dlq")))
  })

/** `dlq list` shows at most this many. */
const listLimit = 10_000
/** `dlq replay --all` gives up after this long (what it replayed by then stays replayed). */
const replayAllTimeoutMs = 10 * 60_000

const checkQueueName = (queue: string) => QUEUE_NAME_PATTERN.test(queue)
  ? Effect.void
  : Effect.fail(new DlqError({ message: `queue: expected a queue name ([a-z0-9][a-z0-9-]*), got ${JSON.stringify(queue)}` }))

/** Each replay and refusal is a line as it happens. */
const printReplay: ReplayListener = {
  replayed: (r) => Console.log(`replayed dead letter ${r.dlqSeq} to ${r.subject} (stream seq ${r.streamSeq}), removed it from the DLQ`),
  refused: (_, reason) => Console.error(`jetscale: refused: ${reason}`)
}

const short = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s)

const summary = (e: DeadLetterEntry) => ({
  dlqSeq: e.dlqSeq, queue: e.queue, subject: e.subject, streamSeq: e.streamSeq, deliveries: e.deliveries,
  reason: e.reason, error: e.error, failedAt: e.failedAt
})

const table = (entries: ReadonlyArray<DeadLetterEntry>) =>
  renderTable(["SEQ", "QUEUE", "REASON", "DELIVERIES", "FAILED AT", "ERROR"],
    entries.map((e) => [String(e.dlqSeq), e.queue, e.reason, String(e.deliveries), e.failedAt, short(e.error, 70)]))

export const runList = ({ config, json, queue }: { readonly config: string; readonly json: boolean; readonly queue: Option.Option<string> }) =>
  Effect.forEach(Option.toArray(queue), checkQueueName).pipe(
    Effect.andThen(withNats(config, (n) => listDeadLetters(n.jsm, Option.getOrUndefined(queue), listLimit, { headersOnly: true }))),
    Effect.flatMap((entries) => Console.log(json
      ? JSON.stringify({ deadLetters: entries.map(summary) })
      : entries.length === 0 ? "no dead letters" : table(entries))),
    reportFailure
  )

export const runShow = ({ config, seq }: { readonly config: string; readonly seq: number }) =>
  withNats(config, (n) => getDeadLetter(n.jsm, seq)).pipe(
    Effect.flatMap((e) => e ? Effect.succeed(e) : Effect.fail(new DlqError({ message: `no dead letter with DLQ sequence ${seq}` }))),
    Effect.flatMap((e) => {
      const text = new TextDecoder().decode(e.data)
      let payload = text
      try {
        payload = JSON.stringify(JSON.parse(text), null, 2)
      } catch { /* not JSON: shown as it is */ }
      return Console.log([`dead letter ${e.dlqSeq}`, ...Object.entries(e.headers).map(([k, v]) => `  ${k}: ${v}`), "payload:", payload].join("\n"))
    }),
    reportFailure
  )

/** `replay` and `purge`: which dead letters of a queue. */
export interface SelectionArgs {
  readonly config: string
  readonly queue: string
  readonly seq: ReadonlyArray<string>
  readonly all: boolean
}

const parseSelection = (queue: string, seq: ReadonlyArray<string>, all: boolean) => Effect.gen(function*() {
  yield* checkQueueName(queue)
  const parts = seq.flatMap((s) => s.split(",")).map((s) => s.trim()).filter(Boolean)
  const bad = parts.find((p) => !/^\d+$/.test(p))
  if (bad !== undefined) return yield* new DlqError({ message: `--seq: expected a DLQ sequence number, got "${bad}"` })
  if (!all && parts.length === 0) return yield* new DlqError({ message: "say which dead letters: --seq N (repeatable) or --all" })
  return { queue, seqs: parts.map(Number), all } satisfies Selection
})

const configuredQueue = (config: JetscaleConfig, name: string, path: string) => {
  const q = config.queues.find((x) => x.name === name)
  return q ? Effect.succeed(q) : Effect.fail(new DlqError({ message: `queue ${name} is not in ${path}: a replay publishes only to a configured queue's subjects` }))
}

export const runReplay = ({ config, queue, seq, all }: SelectionArgs) =>
  Effect.gen(function*() {
    const s = yield* parseSelection(queue, seq, all)
    const loaded = yield* load(config)
    const q = yield* configuredQueue(loaded, s.queue, config)
    // Each line is printed as it happens, so a failure part-way still shows what was replayed.
    const counts = yield* replaySelection(q, s, printReplay, { timeoutMs: replayAllTimeoutMs }).pipe(Effect.provide(Layer.merge(natsLayer(loaded.nats, "jetscale-dlq"), Tracing.layer("jetscale-cli", Tracing.cliOptions))))
    yield* Console.log(`${counts.replayed} dead letter(s) replayed`)
    if (counts.refused > 0) return yield* new DlqError({ message: `${counts.refused} dead letter(s) refused (see above), not replayed` })
  }).pipe(reportFailure)

/** The selected dead letters; any sequence not of the queue fails the whole purge before it deletes anything. */
const selectAllOrNothing = async (jsm: Nats["Service"]["jsm"], s: Selection) => {
  const { entries, refused } = await selectSeqs(jsm, s)
  if (refused.length > 0) throw new Error(refused.map((r) => r.reason).join("; "))
  return entries
}

export const runPurge = ({ config, queue, seq, all }: SelectionArgs) =>
  parseSelection(queue, seq, all).pipe(
    Effect.flatMap((s) => withNats(config, async (n) => purge(n.jsm, s, s.all ? [] : await selectAllOrNothing(n.jsm, s)))),
    Effect.flatMap((count) => Console.log(`purged ${count} dead letter(s) of queue ${queue}`)),
    reportFailure
  )
