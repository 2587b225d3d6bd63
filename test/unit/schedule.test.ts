// Unit tests for scheduled floors (src/scaler/schedule.ts): cron parsing and its errors, time
// zones across daylight saving, the floor across a cron boundary, nextStart, cost, and a TestClock
// walk over 08:00.
import { assert, describe, expect, it } from "@effect/vitest"
import { Clock, Effect } from "effect"
import { TestClock } from "effect/testing"
import {
  type Cron,
  nextStart,
  parseCron,
  type ScheduleEntry,
  scheduleFloor,
  timezoneProblem
} from "../../src/scaler/schedule.ts"

const cron = (text: string): Cron => {
  const c = parseCron(text)
  if (typeof c === "string") throw new Error(c)
  return c
}
const at = (iso: string) => Date.parse(iso)
const entry = (text: string, forMs: number, minReplicas = 3, timezone = "UTC"): ScheduleEntry => ({ cron: cron(text), forMs, minReplicas, timezone })
const H = 3_600_000
const M = 60_000

describe("parseCron", () => {
  it.each([
    { text: "0 8 * * 1-5", fields: { minutes: [0], hours: [8], daysOfWeek: [1, 2, 3, 4, 5], dayOfMonthStar: true, dayOfWeekStar: false } },
    { text: "*/15 * * * *", fields: { minutes: [0, 15, 30, 45], hours: Array.from({ length: 24 }, (_, i) => i) } },
    { text: "0,30 9-17/2 * JAN,jul mon-FRI", fields: { minutes: [0, 30], hours: [9, 11, 13, 15, 17], months: [1, 7], daysOfWeek: [1, 2, 3, 4, 5] } },
    { text: "0 0 * * 7", fields: { daysOfWeek: [0] } },
    { text: "0 0 * * 5-7", fields: { daysOfWeek: [0, 5, 6] } },
    { text: "0 0 * * sun,SAT", fields: { daysOfWeek: [0, 6] } },
    { text: "5/20 * * * *", fields: { minutes: [5, 25, 45] } },
    { text: "0 0 1,15 * *", fields: { daysOfMonth: [1, 15], dayOfMonthStar: false, dayOfWeekStar: true } },
    { text: "  0   8 * *  *  ", fields: { text: "0   8 * *  *", hours: [8] } }
  ])("$text", ({ fields, text }) => {
    expect(cron(text)).toMatchObject(fields)
  })

  it.each([
    ["0 25 * * *", `cron "0 25 * * *": hour 25 out of range 0-23`],
    ["60 * * * *", `cron "60 * * * *": minute 60 out of range 0-59`],
    ["0 0 0 * *", `cron "0 0 0 * *": day-of-month 0 out of range 1-31`],
    ["0 0 * 13 *", `cron "0 0 * 13 *": month 13 out of range 1-12`],
    ["0 0 * * 8", `cron "0 0 * * 8": day-of-week 8 out of range 0-7`],
    ["0 0 * FOO *", `cron "0 0 * FOO *": month "FOO" is not a number or a name JAN-DEC`],
    ["0 0 * * MONDAY", `cron "0 0 * * MONDAY": day-of-week "MONDAY" is not a number or a name SUN-SAT`],
    ["x * * * *", `cron "x * * * *": minute "x" is not a number`],
    ["*/0 * * * *", `cron "*/0 * * * *": minute step "0" out of range 1-59`],
    ["5-3 * * * *", `cron "5-3 * * * *": minute range 5-3 goes backwards`],
    ["1,,2 * * * *", `cron "1,,2 * * * *": minute "1,,2" has an empty list item`],
    ["1-2-3 * * * *", `cron "1-2-3 * * * *": minute "1-2-3" is not a value or range`],
    ["1/2/3 * * * *", `cron "1/2/3 * * * *": minute "1/2/3" is not a value, range or step`],
    ["0 8 * *", `cron "0 8 * *": expected 5 fields (minute hour day-of-month month day-of-week), got 4`],
    ["", `cron "": expected 5 fields (minute hour day-of-month month day-of-week), got 0`],
    ["0 0 * * * *", `cron "0 0 * * * *": expected 5 fields (minute hour day-of-month month day-of-week), got 6`]
  ])("%s -> error", (text, problem) => {
    expect(parseCron(text)).toBe(problem)
  })

  it("refuses a long text without echoing all of it", () => {
    const problem = parseCron("1,".repeat(150) + "1 * * * *")
    expect(problem).toMatch(/^cron ".{60}\.\.\.": longer than 200 characters$/)
  })
})

describe("timezoneProblem", () => {
  it.each(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"])("%s is fine", (tz) => {
    expect(timezoneProblem(tz)).toBeUndefined()
  })
  it.each(["Mars/Base", "Europe/Berlinn", ""])("%j is refused, named", (tz) => {
    expect(timezoneProblem(tz)).toBe(`unknown time zone "${tz}"`)
  })
})

describe("scheduleFloor", () => {
  const workday = entry("0 8 * * *", 9 * H)

  it.each([
    ["2026-01-15T07:59:00Z", undefined],
    ["2026-01-15T07:59:59.999Z", undefined],
    ["2026-01-15T08:00:00Z", "2026-01-15T17:00:00Z"],
    ["2026-01-15T12:34:56Z", "2026-01-15T17:00:00Z"],
    ["2026-01-15T16:59:59.999Z", "2026-01-15T17:00:00Z"],
    ["2026-01-15T17:00:00Z", undefined],
    ["2026-01-16T03:00:00Z", undefined]
  ])("08:00 for 9h at %s -> until %s", (now, until) => {
    const floor = scheduleFloor([workday], at(now))
    expect(floor).toEqual(until === undefined ? undefined : { minReplicas: 3, until: at(until), cron: "0 8 * * *" })
  })

  it("Europe/Berlin: 08:00 local is 07:00 UTC in winter and 06:00 UTC in summer", () => {
    const berlin = entry("0 8 * * *", H, 3, "Europe/Berlin")
    expect(scheduleFloor([berlin], at("2026-01-15T06:59:00Z"))).toBeUndefined()
    expect(scheduleFloor([berlin], at("2026-01-15T07:00:00Z"))?.until).toBe(at("2026-01-15T08:00:00Z"))
    expect(scheduleFloor([berlin], at("2026-07-15T05:59:00Z"))).toBeUndefined()
    expect(scheduleFloor([berlin], at("2026-07-15T06:00:00Z"))?.until).toBe(at("2026-07-15T07:00:00Z"))
    // the same cron in UTC is not active then
    expect(scheduleFloor([entry("0 8 * * *", H)], at("2026-07-15T06:30:00Z"))).toBeUndefined()
    // the days around the spring change
    expect(scheduleFloor([berlin], at("2026-03-28T07:00:00Z"))).toBeDefined()
    expect(scheduleFloor([berlin], at("2026-03-30T06:00:00Z"))).toBeDefined()
    expect(scheduleFloor([berlin], at("2026-03-30T07:00:00Z"))).toBeUndefined()
  })

  it("weekdays 1-5 (2026-01-17 is a Saturday, 2026-01-19 a Monday)", () => {
    const weekdays = entry("0 8 * * 1-5", H)
    expect(scheduleFloor([weekdays], at("2026-01-16T08:30:00Z"))).toBeDefined()
    expect(scheduleFloor([weekdays], at("2026-01-17T08:30:00Z"))).toBeUndefined()
    expect(scheduleFloor([weekdays], at("2026-01-18T08:30:00Z"))).toBeUndefined()
    expect(scheduleFloor([weekdays], at("2026-01-19T08:30:00Z"))).toBeDefined()
  })

  it("a weekend floor from Friday 18:00 for 3 days is found back over days", () => {
    const weekend = entry("0 18 * * FRI", 3 * 24 * H, 2)
    expect(scheduleFloor([weekend], at("2026-01-19T10:00:00Z"))).toEqual({ minReplicas: 2, until: at("2026-01-19T18:00:00Z"), cron: "0 18 * * FRI" })
    expect(scheduleFloor([weekend], at("2026-01-19T18:00:00Z"))).toBeUndefined()
    expect(scheduleFloor([weekend], at("2026-01-16T17:59:00Z"))).toBeUndefined()
  })

  it("*/15 for 5m", () => {
    const quarter = entry("*/15 * * * *", 5 * M)
    expect(scheduleFloor([quarter], at("2026-01-15T08:14:00Z"))).toBeUndefined()
    expect(scheduleFloor([quarter], at("2026-01-15T08:15:00Z"))?.until).toBe(at("2026-01-15T08:20:00Z"))
    expect(scheduleFloor([quarter], at("2026-01-15T08:19:59Z"))).toBeDefined()
    expect(scheduleFloor([quarter], at("2026-01-15T08:20:00Z"))).toBeUndefined()
  })

  it("lists, and day-of-month OR day-of-week when both are set (Vixie cron)", () => {
    const both = entry("0 9 1 * MON", H)
    expect(scheduleFloor([both], at("2026-01-01T09:30:00Z"))).toBeDefined() // the 1st, a Thursday
    expect(scheduleFloor([both], at("2026-01-19T09:30:00Z"))).toBeDefined() // a Monday
    expect(scheduleFloor([both], at("2026-01-20T09:30:00Z"))).toBeUndefined()
    const list = entry("0 9,13 * * *", 30 * M)
    expect(scheduleFloor([list], at("2026-01-20T13:10:00Z"))).toBeDefined()
    expect(scheduleFloor([list], at("2026-01-20T11:10:00Z"))).toBeUndefined()
    const months = entry("0 0 1 JAN,JUL *", 24 * H)
    expect(scheduleFloor([months], at("2026-07-01T23:00:00Z"))).toBeDefined()
    expect(scheduleFloor([months], at("2026-06-01T01:00:00Z"))).toBeUndefined()
  })

  it("the highest minReplicas wins; equal ones: the one lasting longest", () => {
    const now = at("2026-01-15T09:00:00Z")
    const floor = scheduleFloor([entry("0 8 * * *", 2 * H, 2), entry("30 8 * * *", H, 5), entry("0 * * * *", 3 * H, 5)], now)
    expect(floor).toEqual({ minReplicas: 5, until: at("2026-01-15T12:00:00Z"), cron: "0 * * * *" })
    expect(scheduleFloor([], now)).toBeUndefined()
  })

  it("for is capped at 7 days; for 0 is never active", () => {
    expect(scheduleFloor([entry("0 0 1 1 *", 30 * 24 * H)], at("2026-01-10T00:00:00Z"))).toBeUndefined()
    expect(scheduleFloor([entry("0 0 1 1 *", 30 * 24 * H)], at("2026-01-07T23:00:00Z"))?.until).toBe(at("2026-01-08T00:00:00Z"))
    expect(scheduleFloor([entry("0 8 * * *", 0)], at("2026-01-15T08:00:00Z"))).toBeUndefined()
  })

  it("daylight saving, spring: a wall the clock skips starts when the jump ends", () => {
    // Europe/Berlin 2026-03-29: 02:00 local does not happen (01:00 UTC is 03:00 CEST)
    const e = entry("30 2 * * *", H, 3, "Europe/Berlin")
    expect(scheduleFloor([e], at("2026-03-29T00:59:00Z"))).toBeUndefined()
    expect(scheduleFloor([e], at("2026-03-29T01:00:00Z"))?.until).toBe(at("2026-03-29T02:00:00Z"))
    expect(nextStart(e, at("2026-03-29T00:00:00Z"))).toBe(at("2026-03-29T01:00:00Z"))
  })

  it("daylight saving, autumn: a wall that happens twice counts once, the first time", () => {
    // Europe/Berlin 2026-10-25: 02:00-03:00 local happens at 00:00-01:00 UTC (CEST) and again at 01:00-02:00 UTC (CET)
    const short = entry("30 2 * * *", 10 * M, 3, "Europe/Berlin")
    expect(scheduleFloor([short], at("2026-10-25T00:35:00Z"))?.until).toBe(at("2026-10-25T00:40:00Z"))
    expect(scheduleFloor([short], at("2026-10-25T01:35:00Z"))).toBeUndefined()
    expect(nextStart(short, at("2026-10-25T00:45:00Z"))).toBe(at("2026-10-26T01:30:00Z"))
    // in the second pass, a match of the first pass is still found
    const long = entry("45 2 * * *", H, 3, "Europe/Berlin")
    expect(scheduleFloor([long], at("2026-10-25T01:10:00Z"))?.until).toBe(at("2026-10-25T01:45:00Z"))
  })
})

describe("nextStart", () => {
  it.each([
    ["0 8 * * 1-5", "UTC", "2026-01-16T09:00:00Z", "2026-01-19T08:00:00Z"],
    ["0 8 * * 1-5", "Europe/Berlin", "2026-01-16T09:00:00Z", "2026-01-19T07:00:00Z"],
    ["0 8 * * *", "UTC", "2026-01-15T08:00:00Z", "2026-01-16T08:00:00Z"], // strictly after now
    ["0 8 * * *", "UTC", "2026-01-15T07:59:30Z", "2026-01-15T08:00:00Z"],
    ["*/15 * * * *", "Asia/Kolkata", "2026-01-15T08:01:00Z", "2026-01-15T08:15:00Z"],
    ["0 0 29 2 *", "UTC", "2026-03-01T00:00:00Z", "2028-02-29T00:00:00Z"]
  ])("%s in %s after %s -> %s", (text, tz, now, next) => {
    expect(nextStart({ cron: cron(text), timezone: tz }, at(now))).toBe(at(next))
  })

  it("a cron that never matches has none", () => {
    expect(nextStart({ cron: cron("0 0 30 2 *"), timezone: "UTC" }, at("2026-01-15T00:00:00Z"))).toBeUndefined()
  })
})

describe("cost", () => {
  it("a thousand evaluations in a time zone take milliseconds", () => {
    const entries = [entry("* * * * *", 7 * 24 * H, 1, "Europe/Berlin"), entry("0 0 1 1 *", 7 * 24 * H, 2, "America/New_York")]
    const start = performance.now()
    for (let i = 0; i < 1_000; i++) scheduleFloor(entries, at("2026-06-15T12:00:00Z") + i * 61_000)
    assert.isBelow(performance.now() - start, 2_000)
  })
})

describe("with TestClock", () => {
  it.effect("the floor appears at 08:00 and goes at 17:00", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(at("2026-01-15T07:58:00Z"))
      const seen: Array<[string, number | undefined]> = []
      for (let i = 0; i < 4; i++) {
        const now = yield* Clock.currentTimeMillis
        seen.push([new Date(now).toISOString().slice(11, 16), scheduleFloor([entry("0 8 * * *", 9 * H)], now)?.minReplicas])
        yield* TestClock.adjust("1 minute")
      }
      expect(seen).toEqual([["07:58", undefined], ["07:59", undefined], ["08:00", 3], ["08:01", 3]])
      yield* TestClock.adjust("9 hours")
      assert.strictEqual(scheduleFloor([entry("0 8 * * *", 9 * H)], yield* Clock.currentTimeMillis), undefined) // 17:02
    }))
})
