// What the dashboard's routes take from outside, pure: the DLQ limit and replay body, the login form,
// the session cookie and the same-origin check.
import { Result } from "effect"
import { describe, expect, it } from "vitest"
import { parseDlqLimit, parseReplayBody } from "../../src/admin/dlq-request.ts"
import { escapeHtml, makePage } from "../../src/admin/html.ts"
import { clearedSessionCookie, makeSessions, parseLoginForm, sameOrigin, sessionCookie, sessionMaxAgeMs } from "../../src/admin/session.ts"
import { dashboardPage } from "../../src/admin/dashboard-page.ts"
import { parseSince } from "../../src/admin/dashboard.ts"

const ok = <A>(r: Result.Result<A, string>) => Result.isSuccess(r) ? r.success : `error: ${r.failure}`

describe("parseDlqLimit", () => {
  it.each([[undefined, 20], ["1", 1], ["100", 100], ["07", 7]] as const)("%s -> %s", (raw, n) => {
    expect(ok(parseDlqLimit(raw))).toBe(n)
  })
  it.each(["0", "101", "-1", "1.5", "1e2", "abc", "", " 5", "12345"])("%j is refused naming limit", (raw) => {
    expect(ok(parseDlqLimit(raw))).toBe(`error: limit: expected an integer from 1 to 100, got ${JSON.stringify(raw)}`)
  })
  it("refuses a repeated parameter", () => {
    expect(ok(parseDlqLimit(["1", "2"]))).toBe("error: limit: expected one value, got several")
  })
})

describe("parseSince", () => {
  it("absent is the whole history; a time in ms; anything else is refused naming since", () => {
    expect(ok(parseSince(undefined))).toBe(0)
    expect(ok(parseSince("1796112031890"))).toBe(1796112031890)
    expect(ok(parseSince("soon"))).toBe(`error: since: expected a time in ms since the epoch (an integer >= 0), got "soon"`)
    expect(ok(parseSince("9".repeat(16)))).toContain("error: since:")
    expect(ok(parseSince(["1", "2"]))).toBe("error: since: expected one value, got several")
  })
})

describe("parseReplayBody", () => {
  it("takes {all: true} or a list of sequences (duplicates once)", () => {
    expect(ok(parseReplayBody(`{"all": true}`))).toEqual({ all: true })
    expect(ok(parseReplayBody(`{"seqs": [3, 1, 3]}`))).toEqual({ all: false, seqs: [3, 1] })
    expect(ok(parseReplayBody(JSON.stringify({ seqs: Array.from({ length: 100 }, (_, i) => i + 1) })))).toMatchObject({ all: false })
  })
  it.each([
    ["", "body: expected"],
    ["{", "body: invalid JSON"],
    ["\"all\"", "body: expected {\"seqs\": [12, 15]} or {\"all\": true}, got \"all\""],
    [`{"all": 1}`, "all: expected true, got 1"],
    [`{"seqs": [1], "all": true}`, "body: seqs and all together"],
    [`{"seqs": [], "x": 1}`, `body: unknown field "x"`],
    [`{"seqs": null}`, "seqs: expected a list of 1 to 100 DLQ sequence numbers, got null"],
    [`{"seqs": [2, -3]}`, "seqs[1]: expected a DLQ sequence number (an integer >= 1), got -3"],
    [`{"seqs": [9007199254740993]}`, "seqs[0]: expected a DLQ sequence number"]
  ])("%j is refused: %s", (body, message) => {
    expect(ok(parseReplayBody(body))).toContain(`error: ${message}`)
  })
})

describe("sessions", () => {
  it("without a token nothing is required", () => {
    const s = makeSessions(undefined)
    expect(s.required).toBe(false)
    expect(makeSessions("").required).toBe(false)
  })
  it("a right token gets a cookie value that is not the token; only that value is valid", () => {
    const s = makeSessions("t0ken")
    expect(s.login("wrong")).toBeUndefined()
    expect(s.login("")).toBeUndefined()
    const value = s.login("t0ken")!
    expect(value).toMatch(/^\d+\.[A-Za-z0-9_-]{43}$/)
    expect(value).not.toContain("t0ken")
    expect(s.valid(value)).toBe(true)
    expect(s.valid(undefined)).toBe(false)
    expect(s.valid("t0ken")).toBe(false)
    expect(s.valid(`${value}x`)).toBe(false)
  })
  it("each process (each makeSessions) has its own key: a cookie is worth nothing to another", () => {
    const a = makeSessions("t0ken")
    const b = makeSessions("t0ken")
    expect(b.valid(a.login("t0ken")!)).toBe(false)
  })
  it("a session lasts 12 hours and ends with its logout, also for a copy of the cookie; another session goes on", () => {
    let now = 1_000_000
    const s = makeSessions("t0ken", () => now)
    const first = s.login("t0ken")!
    now += 1
    const second = s.login("t0ken")!
    s.logout(first)
    expect([s.valid(first), s.valid(second)]).toEqual([false, true])
    const [issued] = second.split(".")
    expect(s.valid(`${Number(issued) + 1}.${second.split(".")[1]}`)).toBe(false)
    now += sessionMaxAgeMs - 1
    expect(s.valid(second)).toBe(true)
    now += 1
    expect(s.valid(second)).toBe(false)
  })
  it("the cookie is HttpOnly, SameSite=Strict, for the whole site; logging out expires it", () => {
    expect(sessionCookie("abc")).toBe("jetscale_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200")
    expect(clearedSessionCookie).toBe("jetscale_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
  })
  it("the login form's token field", () => {
    expect(ok(parseLoginForm("username=jetscale&token=a%2Bb%20c"))).toBe("a+b c")
    expect(ok(parseLoginForm("token=+x+"))).toBe("x")
    expect(ok(parseLoginForm("token="))).toBe("error: token: required")
    expect(ok(parseLoginForm("{\"token\": \"x\"}"))).toBe("error: token: required")
  })
  it("same origin: no Origin header (not cross-origin capable) or the request's own host", () => {
    expect(sameOrigin(undefined, "127.0.0.1:9464")).toBe(true)
    expect(sameOrigin("http://127.0.0.1:9464", "127.0.0.1:9464")).toBe(true)
    expect(sameOrigin("http://127.0.0.1:9465", "127.0.0.1:9464")).toBe(false)
    expect(sameOrigin("https://evil.example", "127.0.0.1:9464")).toBe(false)
    expect(sameOrigin("null", "127.0.0.1:9464")).toBe(false)
    expect(sameOrigin("http://127.0.0.1:9464", undefined)).toBe(false)
  })
})

describe("pages", () => {
  it("allow their own inline style and script by hash, and nothing from elsewhere", () => {
    const p = makePage({ title: "<t>", style: "a{}", body: "<p>x</p>", script: "1" })
    expect(p.html).toContain("<title>&lt;t&gt;</title>")
    expect(p.csp).toBe("default-src 'none'; style-src 'sha256-X1RutGBrXCt9KkSaXMK7tHftWiRscFHOhxsS8tv8hBk='; script-src 'sha256-a4ayc/80/OGda4BO/1o/V0etpOqiLx1JwB5S3beHW0s='; connect-src 'self'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe("&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;")
  })
  it("the dashboard sets what it shows as text, never as HTML, and names no host", () => {
    expect(dashboardPage.html).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/)
    expect(dashboardPage.html).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/)
  })
})
