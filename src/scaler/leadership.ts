// Leader election among the scalers of one deployment (high availability): a lease in the KV bucket
// `jetscale_leases`, key `scaler.<deployment>`, changed only with revision checks. The leader renews
// it every quarter lease; a standby that sees the same revision for a whole lease (its own clocks,
// from when it first saw it) takes it over with a revision-checked update, so it never needs the
// clocks of two machines to agree. A leader acts only until 80% of a lease after the renewal it last
// sent: it stops before any standby can take over, also after a pause (SIGSTOP) or a partition.
// Both measure on the wall clock and on the monotonic clock and need both to agree (a wall clock
// step, a system suspend).
// On a clean stop the leader deletes its lease: the next scaler takes over at once.
import type { KV } from "@nats-io/kv"
import { Cause, Clock, Duration, Effect, Fiber, Ref, SubscriptionRef } from "effect"
import { readFileSync, readlinkSync } from "node:fs"
import { hostname } from "node:os"
import { randomBytes } from "node:crypto"
import { leaderEventSubject, leaseKey, leasesBucket } from "../jetstream/names.ts"
import { ensureKvBucket } from "../jetstream/replicas.ts"
import type { Nats } from "../nats/connection.ts"
import { describe } from "../effect/attempt.ts"
import * as Metrics from "../telemetry/metrics.ts"

export type Role = "leader" | "standby"

/** The lease's value: who holds it, and where it runs (to see that a holder on this host is gone). */
export interface LeaseHolder {
  readonly id: string
  readonly since: string
  readonly process?: ProcessIdentity
}

/** A process on this machine, across pid namespaces and reboots: boot id, pid namespace, pid. */
export interface ProcessIdentity {
  readonly boot: string
  readonly pidNamespace: string
  readonly pid: number
}

/** A scaler's view of the election. */
export interface ElectionState {
  readonly role: Role
  /** The lease's holder as last read (this scaler's id when it leads); null when nobody holds it. */
  readonly leader: string | null
}

/** The public JSON of a leadership event. */
export interface LeaderEvent {
  readonly scaler: string
  readonly deployment: string
  readonly role: Role
  readonly leader: string | null
  readonly reason: string
  readonly at: string
}

/** What a standby has seen of the lease: a revision, and since when (its own clock). */
export interface Seen {
  readonly revision: number
  readonly sinceMs: number
}

/** A moment on the wall clock and on the monotonic clock, in ms. */
interface Instant {
  readonly wall: number
  readonly mono: number
}

/** The lease this scaler holds: its revision, and when the renewal that wrote it was sent. */
interface Held {
  readonly revision: number
  readonly sent: Instant
}

/** What a standby has seen of the lease, on both clocks. */
interface SeenOnBoth {
  readonly wall: Seen
  readonly mono: Seen
}

/** The share of a lease a leader acts for after sending a renewal (the rest absorbs clock drift). */
export const actShare = 0.8

// ---- the rules, pure ----------------------------------------------------------------------------

/** The standby's memory of the lease after reading `revision` at `nowMs`. */
export const nextSeen = (seen: Seen | undefined, revision: number, nowMs: number): Seen =>
  seen !== undefined && seen.revision === revision ? seen : { revision, sinceMs: nowMs }

/** Whether the lease seen has gone unrenewed for a whole lease: a standby may then take it over. */
export const leaseLapsed = (seen: Seen, nowMs: number, leaseMs: number): boolean => nowMs - seen.sinceMs >= leaseMs

/**
 * Whether the lease's holder is a process of this boot and pid namespace that no longer exists (a
 * scaler killed and started again on the same host): its lease need not run out. A pid taken by
 * another process since counts as alive (then the lease runs out as usual). One scaler per process.
 */
export const holderIsGone = (holder: LeaseHolder, me: { readonly id: string; readonly process: ProcessIdentity | undefined }, alive: (pid: number) => boolean): boolean => {
  const h = holder.process
  const mine = me.process
  if (h === undefined || mine === undefined || holder.id === me.id) return false
  if (h.boot !== mine.boot || h.pidNamespace !== mine.pidNamespace) return false
  // Our own pid: another scaler in this process (tests) is alive, not gone.
  return h.pid !== mine.pid && !alive(h.pid)
}

/** Until when a leader may act after a renewal sent at `sentMs`. */
export const actUntil = (sentMs: number, leaseMs: number): number => sentMs + leaseMs * actShare

// ---- the election loop --------------------------------------------------------------------------

export interface Election {
  readonly id: string
  /** The role and leader, as they change. */
  readonly state: SubscriptionRef.SubscriptionRef<ElectionState>
  /** True only while this scaler leads and its last renewal is recent enough to act on. */
  readonly mayAct: Effect.Effect<boolean>
}

/** The leases bucket: created with `replicas`, or brought to them. */
export const openLeases = (nats: Nats["Service"], replicas: number) =>
  ensureKvBucket(nats.jsm, leasesBucket, replicas, "jetstream.replicas", { history: 1, description: "jetscale scaler leases: who leads each deployment" })

export const newScalerId = () => `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`

/** This process's identity on Linux; undefined elsewhere (then a dead holder's lease just runs out). */
export const thisProcess = (): ProcessIdentity | undefined => {
  try {
    return { boot: readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim(), pidNamespace: readlinkSync("/proc/self/ns/pid"), pid: process.pid }
  } catch {
    return undefined
  }
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM"
  }
}

/**
 * Campaigns for the deployment's lease for the life of the scope, every quarter `lease`. Each change
 * of role is logged, counted and published on `jetscale.events.leader`.
 */
export const runElection = (options: {
  readonly nats: Nats["Service"]
  readonly kv: KV
  readonly deployment: string
  readonly lease: Duration.Duration
  readonly id?: string
}) => Effect.gen(function*() {
  const { kv, nats, deployment } = options
  const id = options.id ?? newScalerId()
  const key = leaseKey(deployment)
  const leaseMs = Duration.toMillis(options.lease)
  const tickMs = Math.max(100, Math.floor(leaseMs / 4))
  // Both clocks: the wall clock can jump (an NTP step), the monotonic one stops in a system suspend.
  // A leader acts only while both say its renewal is recent; a standby takes over only when both say
  // the lease lapsed.
  const now = Effect.all({ wall: Clock.currentTimeNanos, mono: Clock.monotonicTimeNanos }).pipe(
    Effect.map(({ wall, mono }): Instant => ({ wall: Number(wall / 1_000_000n), mono: Number(mono / 1_000_000n) })))
  const state = yield* SubscriptionRef.make<ElectionState>({ role: "standby", leader: null })
  // The loop's memory: the revision this scaler holds and until when it may act; what it saw as a standby.
  const memory = yield* Ref.make<{ readonly held?: Held; readonly seen?: SeenOnBoth }>({})
  const standBy = (leader: string | null, reason: string) => Ref.set(memory, {}).pipe(Effect.andThen(announce({ role: "standby", leader }, reason)))

  const me = { id, process: thisProcess() }
  const since = new Date().toISOString()
  const holder = (): string => JSON.stringify({ id, since, ...(me.process ? { process: me.process } : {}) } satisfies LeaseHolder)
  const announce = (next: ElectionState, reason: string) => Effect.gen(function*() {
    const before = yield* SubscriptionRef.get(state)
    if (before.role === next.role && before.leader === next.leader) return
    yield* SubscriptionRef.set(state, next)
    if (before.role === next.role) return
    yield* Metrics.recordLeadership(deployment, next.role)
    if (next.role === "leader") yield* Effect.logInfo(`scaler ${id}: leader of deployment ${deployment} (${reason})`)
    else yield* Effect.logWarning(`scaler ${id}: standby of deployment ${deployment} (${reason}); leader: ${next.leader ?? "none"}`)
    const event: LeaderEvent = { scaler: id, deployment, role: next.role, leader: next.leader, reason, at: new Date().toISOString() }
    yield* Effect.try(() => nats.nc.publish(leaderEventSubject, JSON.stringify(event))).pipe(Effect.ignore)
  })
  const holderOf = (value: string): LeaseHolder | null => {
    try {
      const h = JSON.parse(value) as LeaseHolder
      return typeof h.id === "string" ? h : null
    } catch {
      return null
    }
  }

  const heldFrom = (revision: number, sent: Instant): Held => ({ revision, sent })
  const mayActAt = (held: Held, t: Instant) => t.wall < actUntil(held.sent.wall, leaseMs) && t.mono < actUntil(held.sent.mono, leaseMs)

  const renew = (held: Held) => Effect.gen(function*() {
    const sent = yield* now
    const revision = yield* Effect.tryPromise(() => kv.update(key, holder(), held.revision, tickMs)).pipe(Effect.result)
    if (revision._tag === "Success") return yield* Ref.set(memory, { held: heldFrom(revision.success, sent) })
    const why = describe(revision.failure.cause ?? revision.failure)
    if (/wrong last sequence/i.test(why)) {
      // A renewal that timed out here may have been stored all the same: then the lease is still ours.
      const entry = yield* Effect.tryPromise(() => kv.get(key)).pipe(Effect.orElseSucceed(() => null))
      if (entry !== null && entry.operation === "PUT" && holderOf(entry.string())?.id === id) {
        return yield* Ref.set(memory, { held: heldFrom(entry.revision, held.sent) })
      }
      return yield* standBy(null, "the lease was taken over")
    }
    if (!mayActAt(held, yield* now)) yield* standBy(null, `could not renew the lease: ${why}`)
  })

  const campaign = (previous: SeenOnBoth | undefined) => Effect.gen(function*() {
    const entry = yield* Effect.tryPromise(() => kv.get(key))
    const sent = yield* now
    const taken = (revision: number, reason: string) => Effect.gen(function*() {
      yield* Ref.set(memory, { held: heldFrom(revision, sent) })
      yield* announce({ role: "leader", leader: id }, reason)
    })
    if (entry === null || entry.operation !== "PUT") {
      const created = yield* Effect.tryPromise(() => kv.create(key, holder())).pipe(Effect.result)
      if (created._tag === "Success") return yield* taken(created.success, "the lease was free")
      return
    }
    const current = holderOf(entry.string())
    const leader = current?.id ?? null
    const seen: SeenOnBoth = { wall: nextSeen(previous?.wall, entry.revision, sent.wall), mono: nextSeen(previous?.mono, entry.revision, sent.mono) }
    yield* Ref.set(memory, { seen })
    const gone = current !== null && holderIsGone(current, me, isAlive)
    if (!gone) yield* announce({ role: "standby", leader }, "another scaler leads")
    if (!gone && !(leaseLapsed(seen.wall, sent.wall, leaseMs) && leaseLapsed(seen.mono, sent.mono, leaseMs))) return
    const updated = yield* Effect.tryPromise(() => kv.update(key, holder(), entry.revision, tickMs)).pipe(Effect.result)
    if (updated._tag === "Success") {
      return yield* taken(updated.success, gone
        ? `its holder ${leader} (pid ${current!.process!.pid} on this host) is gone`
        : `the lease of ${leader ?? "a scaler"} went unrenewed for ${Duration.format(options.lease)}`)
    }
  })

  const step = Effect.flatMap(Ref.get(memory), (m) => m.held !== undefined ? renew(m.held) : campaign(m.seen)).pipe(
    Effect.catchCause((cause) => Cause.hasInterruptsOnly(cause)
      ? Effect.failCause(cause)
      : Effect.gen(function*() {
        const e = Cause.squash(cause)
        yield* Effect.logWarning(`scaler ${id}: lease of deployment ${deployment}: ${e instanceof Error ? e.message : String(e)}`)
        const { held } = yield* Ref.get(memory)
        if (held !== undefined && !mayActAt(held, yield* now)) yield* standBy(null, "could not renew the lease in time")
      }))
  )
  // The first step before returning: a sole scaler knows at once that it leads.
  yield* Metrics.recordRole(deployment, "standby")
  yield* step
  const loop = yield* Effect.sleep(Duration.millis(tickMs)).pipe(Effect.andThen(step), Effect.forever, Effect.forkScoped)
  // A clean stop hands the lease on at once: the loop first, so that no renewal follows the delete.
  yield* Effect.addFinalizer(() => Fiber.interrupt(loop).pipe(
    Effect.andThen(Ref.get(memory)),
    Effect.flatMap(({ held }) => held === undefined
      ? Effect.void
      : Effect.tryPromise(() => kv.delete(key, { previousSeq: held.revision })).pipe(Effect.timeout("2 seconds"), Effect.ignore))
  ))

  const mayAct = Effect.gen(function*() {
    const { held } = yield* Ref.get(memory)
    return held !== undefined && mayActAt(held, yield* now)
  })
  return { id, state, mayAct } satisfies Election
})
