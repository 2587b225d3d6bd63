// The shape of the `jetscale` command line: every command with its arguments, flags and help text.
// Each command's work lives in its own module, loaded only when that command runs, so `--help` and
// a typo start without NATS, Docker, OpenTelemetry or the config loader.
import * as Effect from "effect/Effect"
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import { defaultConfigPath } from "../config/default-path.ts"

/** Loads a command's module and runs its work. */
const lazily = <M, A, E, R>(load: () => Promise<M>, run: (m: M) => Effect.Effect<A, E, R>) => Effect.flatMap(Effect.promise(load), run)

export const configFlag = Flag.String("config").pipe(
  Flag.withDescription("path of the jetscale config file"),
  Flag.withDefault(defaultConfigPath())
)

export const jsonFlag = Flag.Boolean("json").pipe(Flag.withDescription("print JSON"), Flag.withDefault(false))

export const up = Command.make("up", { config: configFlag }, (args) => lazily(() => import("./up.ts"), (m) => m.runUp(args))).pipe(
  Command.withDescription("run the scaler (and its admin API on admin.listen) in the foreground")
)

export const down = Command.make("down", { config: configFlag }, (args) => lazily(() => import("./down.ts"), (m) => m.runDown(args))).pipe(
  Command.withDescription("drain and remove every managed worker of the configured queues")
)

export const status = Command.make("status", {
  config: configFlag,
  json: jsonFlag,
  watch: Flag.Boolean("watch").pipe(Flag.withAlias("w"), Flag.withDescription("a live table, redrawn every second until Ctrl-C"), Flag.withDefault(false))
}, (args) => lazily(() => import("./status.ts"), (m) => m.runStatus(args))).pipe(
  Command.withDescription("show each queue's backlog and replicas (--watch: live)")
)

/** A job that must wait: it is kept out of its queue until due (at most 366 days ahead). */
const delayFlags = {
  delay: Flag.String("delay").pipe(Flag.withDescription("run it this long from now (e.g. 30s, 10m, 2h, 3d)"), Flag.optional),
  at: Flag.String("at").pipe(Flag.withDescription("run it at this time (RFC 3339, e.g. 2026-12-01T18:00:00Z)"), Flag.optional)
}

export const enqueue = Command.make("enqueue", {
  config: configFlag,
  queue: Argument.String("queue").pipe(Argument.withDescription("queue name from the config")),
  payload: Argument.String("payload").pipe(Argument.withDescription("JSON text, @file to read it from a file, or - to read standard input")),
  count: Flag.Int("count").pipe(Flag.withDescription("publish the job this many times"), Flag.withDefault(1)),
  priority: Flag.String("priority").pipe(Flag.withDescription("a queue with priorities: the level (default: the middle one)"), Flag.optional),
  ...delayFlags
}, (args) => lazily(() => import("./enqueue.ts"), (m) => m.runEnqueue(args))).pipe(
  Command.withDescription("publish jobs to a queue (--delay/--at: they enter it when due)")
)

export const pub = Command.make("pub", {
  config: configFlag,
  subject: Argument.String("subject").pipe(Argument.withDescription("the subject to publish to (any subject; a queue's goes through JetStream)")),
  payload: Argument.String("payload").pipe(Argument.withDescription("JSON text, @file to read it from a file, or - to read standard input")),
  header: Flag.String("header").pipe(Flag.withAlias("H"), Flag.withDescription("a header key:value (repeatable)"), Flag.atLeast(0)),
  count: Flag.Int("count").pipe(Flag.withDescription("publish the message this many times"), Flag.withDefault(1)),
  ...delayFlags
}, (args) => lazily(() => import("./pub.ts"), (m) => m.runPub(args))).pipe(
  Command.withDescription("publish a message to any subject, with headers (like nats pub)")
)

const dlqList = Command.make("list", {
  config: configFlag,
  json: jsonFlag,
  queue: Argument.String("queue").pipe(Argument.withDescription("only this queue's dead letters"), Argument.optional)
}, (args) => lazily(() => import("./dlq.ts"), (m) => m.runList(args))).pipe(Command.withDescription("one row per dead letter"))

const dlqShow = Command.make("show", {
  config: configFlag,
  seq: Argument.Int("dlq-seq").pipe(Argument.withDescription("the dead letter's DLQ sequence"))
}, (args) => lazily(() => import("./dlq.ts"), (m) => m.runShow(args))).pipe(Command.withDescription("everything about one dead letter, payload included"))

const dlqSelection = {
  config: configFlag,
  queue: Argument.String("queue"),
  seq: Flag.String("seq").pipe(Flag.withDescription("DLQ sequence (repeatable, or comma-separated)"), Flag.atLeast(0)),
  all: Flag.Boolean("all").pipe(Flag.withDescription("every dead letter of the queue"), Flag.withDefault(false))
}

const dlqReplay = Command.make("replay", dlqSelection, (args) => lazily(() => import("./dlq.ts"), (m) => m.runReplay(args))).pipe(
  Command.withDescription("republish dead letters to their original subject (one the queue's config captures), then remove them from the DLQ")
)

const dlqPurge = Command.make("purge", dlqSelection, (args) => lazily(() => import("./dlq.ts"), (m) => m.runPurge(args))).pipe(
  Command.withDescription("delete dead letters")
)

export const dlq = Command.make("dlq").pipe(
  Command.withDescription("list, inspect, replay and purge dead letters"),
  Command.withSubcommands([dlqList, dlqShow, dlqReplay, dlqPurge])
)

export const events = Command.make("events", {
  config: configFlag,
  json: jsonFlag,
  follow: Flag.Boolean("follow").pipe(Flag.withAlias("f"), Flag.withDescription("keep printing until interrupted (the default: events are live only)"), Flag.withDefault(true))
}, (args) => lazily(() => import("./events.ts"), (m) => m.runEvents(args))).pipe(
  Command.withDescription("print scale events, config reloads and changes of leader as they happen")
)

export const scale = Command.make("scale", {
  config: configFlag,
  queue: Argument.String("queue").pipe(Argument.withDescription("queue name from the config")),
  replicas: Argument.String("replicas").pipe(Argument.withDescription(`replica count to pin, or "auto" to end the override`)),
  for: Flag.String("for").pipe(Flag.withDescription("how long the override holds (e.g. 30s, 10m, 1h; default 10m)"), Flag.optional)
}, (args) => lazily(() => import("./scale.ts"), (m) => m.runScale(args))).pipe(
  Command.withDescription(`pin a queue's replica count for a while (manual override), or "auto" to end it`)
)

export const logs = Command.make("logs", {
  config: configFlag,
  queue: Argument.String("queue").pipe(Argument.withDescription("the queue whose workers' output to show")),
  follow: Flag.Boolean("follow").pipe(Flag.withAlias("f"), Flag.withDescription("keep printing new lines until interrupted"), Flag.withDefault(false)),
  since: Flag.String("since").pipe(Flag.withDescription("only lines from this long ago (10m, 2h) or since this ISO time"), Flag.optional),
  instance: Flag.String("instance").pipe(Flag.withDescription("only this worker instance"), Flag.optional)
}, (args) => lazily(() => import("./logs.ts"), (m) => m.runLogs(args))).pipe(
  Command.withDescription("show the workers' output of a queue (stored for logs.maxAge), and follow it with -f")
)

export const natsAccounts = Command.make("nats-accounts", {
  config: configFlag,
  out: Flag.String("out").pipe(Flag.withDescription("write to this file (mode 600) instead of stdout"), Flag.optional)
}, (args) => lazily(() => import("./nats-accounts.ts"), (m) => m.runNatsAccounts(args))).pipe(
  Command.withDescription("write the NATS accounts (per-queue worker users) that nats.conf includes")
)

export const jetscale = Command.make("jetscale").pipe(
  Command.withDescription("event-driven autoscaler for job workers on NATS JetStream"),
  Command.withSubcommands([up, down, status, enqueue, pub, dlq, events, scale, logs, natsAccounts])
)
