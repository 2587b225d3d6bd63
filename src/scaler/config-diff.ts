// What a live reload changes: queues added, removed and changed (with the keys that differ), the
// settings the running scaler applies at once, and those that take effect only at its next start.
// Pure: compares two decoded configs.
import type { JetscaleConfig, QueueConfig } from "../config/model.ts"

export interface QueueChange {
  readonly queue: string
  /** The queue's keys whose values differ, e.g. `maxReplicas`. */
  readonly fields: ReadonlyArray<string>
}

export interface ConfigDiff {
  readonly added: ReadonlyArray<string>
  readonly removed: ReadonlyArray<string>
  readonly changed: ReadonlyArray<QueueChange>
  /** Settings outside `queues` applied at once (e.g. `scaler.interval`). */
  readonly applied: ReadonlyArray<string>
  /** Settings that differ but take effect only when the scaler restarts (e.g. `admin.listen`). */
  readonly needsRestart: ReadonlyArray<string>
}

/** Settings outside `queues` that a reload applies; every other one needs a restart. */
const appliedLive = new Set(["scaler.interval", "scaler.maxReplicas", "dlq.maxBytes", "jetstream.replicas"])

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/** The keys of two objects whose values differ (values are never reported: some are secrets). */
const differingKeys = (a: object, b: object): Array<string> => {
  const ra = a as Record<string, unknown>
  const rb = b as Record<string, unknown>
  return [...new Set([...Object.keys(ra), ...Object.keys(rb)])].filter((k) => !same(ra[k], rb[k])).sort()
}

const isRecord = (v: unknown): v is object => typeof v === "object" && v !== null && !Array.isArray(v)

export const queueFields = (a: QueueConfig, b: QueueConfig): ReadonlyArray<string> => differingKeys(a, b)

export const diffConfig = (before: JetscaleConfig, after: JetscaleConfig): ConfigDiff => {
  const old = new Map(before.queues.map((q) => [q.name, q]))
  const next = new Map(after.queues.map((q) => [q.name, q]))
  const changed = after.queues.flatMap((q) => {
    const prev = old.get(q.name)
    const fields = prev === undefined ? [] : queueFields(prev, q)
    return fields.length === 0 ? [] : [{ queue: q.name, fields }]
  })
  const settings = differingKeys({ ...before, queues: [] }, { ...after, queues: [] }).flatMap((key) => {
    const a = (before as unknown as Record<string, unknown>)[key]
    const b = (after as unknown as Record<string, unknown>)[key]
    return isRecord(a) && isRecord(b) ? differingKeys(a, b).map((sub) => `${key}.${sub}`) : [key]
  })
  return {
    added: after.queues.filter((q) => !old.has(q.name)).map((q) => q.name),
    removed: before.queues.filter((q) => !next.has(q.name)).map((q) => q.name),
    changed,
    applied: settings.filter((s) => appliedLive.has(s)),
    needsRestart: settings.filter((s) => !appliedLive.has(s))
  }
}

export const isEmptyDiff = (d: ConfigDiff) =>
  d.added.length + d.removed.length + d.changed.length + d.applied.length + d.needsRestart.length === 0

/** One line: `added queue b; removed queue c; changed queue a (maxReplicas, targetPending); ...`. */
export const describeDiff = (d: ConfigDiff): string => {
  const parts = [
    ...d.added.map((q) => `added queue ${q}`),
    ...d.removed.map((q) => `removed queue ${q}`),
    ...d.changed.map((c) => `changed queue ${c.queue} (${c.fields.join(", ")})`),
    ...(d.applied.length > 0 ? [`applied ${d.applied.join(", ")}`] : []),
    ...(d.needsRestart.length > 0 ? [`${d.needsRestart.join(", ")} take effect at the next restart of the scaler`] : [])
  ]
  return parts.length === 0 ? "no change" : parts.join("; ")
}
