// Scheduled floors (pure): five-field cron expressions read in an IANA time zone, and the
// replica floor of the entries active now. Searches run over local wall-clock minutes ("walls",
// kept as UTC-epoch numbers of the local date and time) that skip non-matching months, days and
// hours, so one evaluation costs a few Intl calls and at most a few hundred cheap steps.
// Daylight saving: a wall that a clock jump skips happens when the jump ends; a wall that occurs
// twice counts once, the first time (as Vixie cron runs jobs).

/** A parsed cron expression; sets are sorted, day-of-week 0-6 with Sunday 0. */
export interface Cron {
  readonly text: string
  readonly minutes: ReadonlyArray<number>
  readonly hours: ReadonlyArray<number>
  readonly daysOfMonth: ReadonlyArray<number>
  readonly months: ReadonlyArray<number>
  readonly daysOfWeek: ReadonlyArray<number>
  /** The field starts with `*`: then a day matches both fields, else either (Vixie cron). */
  readonly dayOfMonthStar: boolean
  readonly dayOfWeekStar: boolean
}

export interface ScheduleEntry {
  readonly cron: Cron
  readonly minReplicas: number
  readonly forMs: number
  readonly timezone: string
}

export interface ScheduleFloor {
  readonly minReplicas: number
  /** ms epoch when the deciding entry's window ends. */
  readonly until: number
  readonly cron: string
}

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
/** Longest `for` searched back (the config allows 7d). */
export const maxForMs = 7 * DAY
/** How far `nextStart` looks ahead (Feb 29 comes within 8 years). */
const lookAheadMs = 8 * 366 * DAY
/** More than any daylight-saving jump. */
const jumpSlackMs = 3 * HOUR
const maxCronLength = 200

interface Field {
  readonly name: string
  readonly min: number
  readonly max: number
  readonly names?: ReadonlyArray<string>
}

const FIELDS: ReadonlyArray<Field> = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day-of-month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"] },
  { name: "day-of-week", min: 0, max: 7, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] }
]

/** One value of a field: a number or (month, day-of-week) a three-letter name. */
const parseValue = (f: Field, s: string): number | string => {
  const upper = s.toUpperCase()
  const named = f.names?.indexOf(upper) ?? -1
  const n = named >= 0 ? named + (f.name === "month" ? 1 : 0) : /^\d+$/.test(s) ? Number(s) : undefined
  if (n === undefined) {
    const also = f.names ? ` or a name ${f.names[0]}-${f.names[f.names.length - 1]}` : ""
    return `${f.name} "${s}" is not a number${also}`
  }
  return n < f.min || n > f.max ? `${f.name} ${n} out of range ${f.min}-${f.max}` : n
}

/** One field: a list of `*`, `n`, `a-b`, each with an optional `/step`. */
const parseField = (f: Field, text: string): ReadonlyArray<number> | string => {
  const values = new Set<number>()
  for (const item of text.split(",")) {
    if (item === "") return `${f.name} "${text}" has an empty list item`
    const [range, stepText, extra] = item.split("/")
    if (extra !== undefined || range === undefined || range === "") return `${f.name} "${item}" is not a value, range or step`
    let step = 1
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) < 1 || Number(stepText) > f.max) {
        return `${f.name} step "${stepText}" out of range 1-${f.max}`
      }
      step = Number(stepText)
    }
    let lo = f.min
    let hi = f.max
    if (range !== "*") {
      const [a, b, more] = range.split("-")
      if (more !== undefined || a === undefined || a === "" || b === "") return `${f.name} "${range}" is not a value or range`
      const from = parseValue(f, a)
      if (typeof from === "string") return from
      const to = b === undefined ? (stepText === undefined ? from : f.max) : parseValue(f, b)
      if (typeof to === "string") return to
      if (to < from) return `${f.name} range ${range} goes backwards`
      lo = from
      hi = to
    }
    for (let v = lo; v <= hi; v += step) values.add(f.name === "day-of-week" && v === 7 ? 0 : v)
  }
  return [...values].sort((a, b) => a - b)
}

/** Parses a five-field cron expression; a string is the problem, naming the field and value. */
export const parseCron = (text: string): Cron | string => {
  const problem = (p: string) => `cron ${JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}...` : text)}: ${p}`
  if (text.length > maxCronLength) return problem(`longer than ${maxCronLength} characters`)
  const parts = text.trim().split(/\s+/).filter((p) => p !== "")
  if (parts.length !== 5) {
    return problem(`expected 5 fields (minute hour day-of-month month day-of-week), got ${parts.length}`)
  }
  const sets: Array<ReadonlyArray<number>> = []
  for (const [i, f] of FIELDS.entries()) {
    const set = parseField(f, parts[i]!)
    if (typeof set === "string") return problem(set)
    sets.push(set)
  }
  return {
    text: text.trim(),
    minutes: sets[0]!,
    hours: sets[1]!,
    daysOfMonth: sets[2]!,
    months: sets[3]!,
    daysOfWeek: sets[4]!,
    dayOfMonthStar: parts[2]!.startsWith("*"),
    dayOfWeekStar: parts[4]!.startsWith("*")
  }
}

// ---- time zones --------------------------------------------------------------------------------

const formats = new Map<string, Intl.DateTimeFormat>()

const formatFor = (tz: string): Intl.DateTimeFormat => {
  let f = formats.get(tz)
  if (f === undefined) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: tz,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric"
    })
    formats.set(tz, f)
  }
  return f
}

/** Undefined when `tz` is an IANA time zone this runtime knows; otherwise the problem. */
export const timezoneProblem = (tz: string): string | undefined => {
  const unknown = `unknown time zone ${JSON.stringify(tz.length > 64 ? `${tz.slice(0, 64)}...` : tz)}`
  if (tz.length === 0 || tz.length > 64) return unknown
  try {
    formatFor(tz)
    return undefined
  } catch {
    return unknown
  }
}

/** The zone's UTC offset at instant `t` (ms, second precision). */
export const offsetAt = (tz: string, t: number): number => {
  if (tz === "UTC") return 0
  const p: Record<string, number> = {}
  for (const part of formatFor(tz).formatToParts(t)) if (part.type !== "literal") p[part.type] = Number(part.value)
  const wall = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!)
  return wall - (t - (((t % 1000) + 1000) % 1000))
}

/** The local wall clock at instant `t`, as a UTC-epoch number. */
const wallAt = (tz: string, t: number): number => t + offsetAt(tz, t)

/** The first whole second in (lo, hi] where `pred` holds (monotone: false at lo, true at hi). */
const firstWhere = (from: number, to: number, pred: (t: number) => boolean): number => {
  let lo = Math.floor(from / 1000) * 1000
  let hi = Math.ceil(to / 1000) * 1000
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000
    if (pred(mid)) hi = mid
    else lo = mid
  }
  return hi
}

/** The latest wall reached up to `now`: after a clock set back, the walls passed before it. */
const maxWallAt = (tz: string, now: number): number => {
  const o = offsetAt(tz, now)
  const before = offsetAt(tz, now - jumpSlackMs)
  if (before <= o) return now + o
  const jump = firstWhere(now - jumpSlackMs, now, (t) => offsetAt(tz, t) === o)
  return Math.max(now + o, jump - 1 + before)
}

/** The first instant whose wall reaches `wall`: the wall itself, its first time, or the end of the jump over it. */
export const instantOf = (tz: string, wall: number): number => {
  const before = offsetAt(tz, wall - DAY)
  const t1 = wall - before
  if (offsetAt(tz, t1) === before) return t1
  const after = offsetAt(tz, wall + DAY)
  const t2 = wall - after
  if (offsetAt(tz, t2) === after) return t2
  return firstWhere(Math.min(t1, t2), Math.max(t1, t2), (t) => wallAt(tz, t) >= wall)
}

// ---- wall-clock search --------------------------------------------------------------------------

const dayMatches = (c: Cron, d: Date): boolean => {
  const dom = c.daysOfMonth.includes(d.getUTCDate())
  const dow = c.daysOfWeek.includes(d.getUTCDay())
  return c.dayOfMonthStar || c.dayOfWeekStar ? dom && dow : dom || dow
}

/** The latest matching wall minute in [lo, hi], or undefined. */
export const previousWall = (c: Cron, hi: number, lo: number): number | undefined => {
  let t = Math.floor(hi / MINUTE) * MINUTE
  while (t >= lo) {
    const d = new Date(t)
    const [y, mo, day, h] = [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours()]
    if (!c.months.includes(mo + 1)) t = Date.UTC(y, mo, 1) - MINUTE
    else if (!dayMatches(c, d)) t = Date.UTC(y, mo, day) - MINUTE
    else if (!c.hours.includes(h)) t = Date.UTC(y, mo, day, h) - MINUTE
    else {
      const m = c.minutes.findLast((m) => m <= d.getUTCMinutes())
      if (m === undefined) t = Date.UTC(y, mo, day, h) - MINUTE
      else return Date.UTC(y, mo, day, h, m) >= lo ? Date.UTC(y, mo, day, h, m) : undefined
    }
  }
  return undefined
}

/** The earliest matching wall minute in [lo, hi], or undefined. */
export const nextWall = (c: Cron, lo: number, hi: number): number | undefined => {
  let t = Math.ceil(lo / MINUTE) * MINUTE
  while (t <= hi) {
    const d = new Date(t)
    const [y, mo, day, h] = [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours()]
    if (!c.months.includes(mo + 1)) t = Date.UTC(y, mo + 1, 1)
    else if (!dayMatches(c, d)) t = Date.UTC(y, mo, day + 1)
    else if (!c.hours.includes(h)) t = Date.UTC(y, mo, day, h + 1)
    else {
      const m = c.minutes.find((m) => m >= d.getUTCMinutes())
      if (m === undefined) t = Date.UTC(y, mo, day, h + 1)
      else return Date.UTC(y, mo, day, h, m) <= hi ? Date.UTC(y, mo, day, h, m) : undefined
    }
  }
  return undefined
}

// ---- schedules ----------------------------------------------------------------------------------

/** The latest match at or before `now` still in its window: its start, or undefined. */
export const activeStart = (e: ScheduleEntry, now: number): number | undefined => {
  const forMs = Math.min(Math.max(0, e.forMs), maxForMs)
  if (forMs === 0) return undefined
  const top = maxWallAt(e.timezone, now)
  const wall = previousWall(e.cron, top, top - forMs - DAY)
  if (wall === undefined) return undefined
  const start = instantOf(e.timezone, wall)
  return start <= now && now < start + forMs ? start : undefined
}

/** The next match strictly after `now` (for status), or undefined if none within 8 years. */
export const nextStart = (e: Pick<ScheduleEntry, "cron" | "timezone">, now: number): number | undefined => {
  const top = maxWallAt(e.timezone, now)
  const wall = nextWall(e.cron, Math.floor(top / MINUTE) * MINUTE + MINUTE, top + lookAheadMs)
  return wall === undefined ? undefined : instantOf(e.timezone, wall)
}

/** The highest minReplicas among the entries active at `now` (ties: the one lasting longest). */
export const scheduleFloor = (entries: ReadonlyArray<ScheduleEntry>, now: number): ScheduleFloor | undefined => {
  let best: ScheduleFloor | undefined
  for (const e of entries) {
    const start = activeStart(e, now)
    if (start === undefined) continue
    const until = start + Math.min(e.forMs, maxForMs)
    if (best === undefined || e.minReplicas > best.minReplicas || (e.minReplicas === best.minReplicas && until > best.until)) {
      best = { minReplicas: e.minReplicas, until, cron: e.cron.text }
    }
  }
  return best
}
