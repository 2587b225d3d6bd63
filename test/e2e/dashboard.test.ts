// The dashboard end to end: a real `jetscale up` (process driver, an admin token) on a real
// nats-server, and a real headless Chromium: log in through the form, watch a queue's numbers move
// after jobs are sent, pin and release an override with the page's buttons, replay a dead letter,
// follow a live reload (a queue added, then removed), and read it on a phone-sized screen. The page
// must never ask anything of a host but the scaler.
import { writeFile } from "node:fs/promises"
import type { Browser, Page } from "puppeteer-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  adminApi, adminUrlOf, dashboardConfig, fieldText, launchChromium, logIn, recordRequests, shownNumber, waitForField, writeDashboardConfig, type DemoQueue
} from "../support/dashboard.ts"
import { useNatsServer } from "../support/nats-fixture.ts"
import { uniqueName } from "../support/queue.ts"
import { startScaler, type ScalerProcess } from "../support/scaler-process.ts"
import { waitFor } from "../support/wait.ts"

const nats = useNatsServer()
const token = `dash-${Math.random().toString(36).slice(2)}`
const queue = uniqueName("dash")

describe("the dashboard in headless Chromium", () => {
  let scaler: ScalerProcess
  let browser: Browser
  let url: string
  let api: ReturnType<typeof adminApi>
  const requested: Array<string> = []
  const watch = (page: Page) => recordRequests(page, requested)

  const main: DemoQueue = { name: queue, settings: { maxReplicas: 3, targetPending: 5, concurrency: 2, idleTimeout: "30s", scaleDownDelay: "1s", maxDeliver: 1 } }
  let path: string
  /** Rewrites the config file with these queues and has the scaler reload it (SIGHUP). */
  const reload = async (queues: ReadonlyArray<DemoQueue>) => {
    await writeFile(path, dashboardConfig({ natsUrl: nats.server.url, token, queues }))
    process.kill(scaler.pid, "SIGHUP")
  }

  beforeAll(async () => {
    path = await writeDashboardConfig({ natsUrl: nats.server.url, token, queues: [main] })
    scaler = startScaler(path)
    browser = await launchChromium()
    url = await adminUrlOf(scaler)
    api = adminApi(url, token)
  })
  afterAll(async () => {
    await browser?.close()
    await scaler?.stop()
  })

  it("logs in through the form (a wrong token is refused), shows the queue's numbers move after jobs are sent, and pins and releases an override", async () => {
    const page = await browser.newPage()
    watch(page)
    const first = await page.goto(`${url}/`, { timeout: 20_000 })
    expect(first?.status()).toBe(401)
    expect(await page.$("[data-queue]")).toBeNull()
    await page.type("#token", "not-the-token")
    const refused = await Promise.all([page.waitForNavigation({ timeout: 20_000 }), page.click("button[type=submit]")])
    expect(refused[0]?.status()).toBe(401)
    expect(await page.$eval("#login-error", (e) => e.textContent)).toBe("That is not the admin token.")

    await logIn(page, url, token)
    await page.waitForSelector(`[data-queue="${queue}"]`, { timeout: 20_000 })
    await waitForField(page, queue, "desired", (t) => t === "0")
    expect(await page.$eval("#conn", (e) => e.textContent)).toBe("live")

    const jobs = Array.from({ length: 30 }, (_, i) => ({ id: `slow-${i}`, sleepMs: 1500 }))
    expect((await api("POST", `/api/queues/${queue}/jobs`, jobs)).status).toBe(202)
    const backlog = await waitForField(page, queue, "backlog", (t) => shownNumber(t) > 0)
    expect(shownNumber(backlog)).toBeLessThanOrEqual(30)
    await waitForField(page, queue, "desired", (t) => shownNumber(t) === 3)
    await waitForField(page, queue, "running", (t) => shownNumber(t) > 0)
    await page.waitForSelector(`[data-queue="${queue}"] [data-f=decisions] .move`, { timeout: 10_000 })

    // The override form: 1 replica for 5 minutes, then Auto.
    const card = `[data-queue="${queue}"]`
    await page.click(`${card} input[name=replicas]`, { count: 3 })
    await page.type(`${card} input[name=replicas]`, "1")
    expect(await page.$eval(`${card} input[name=replicas]`, (e) => (e as unknown as { value: string }).value)).toBe("1")
    await page.select(`${card} select[name=ttl]`, "5m")
    await page.click(`${card} [data-a=pin]`)
    await waitForField(page, queue, "msg", (t) => t.startsWith("pinned to 1 replica(s) until"))
    const pinned = (await api("GET", "/api/queues")).json.queues.find((q: { name: string }) => q.name === queue)
    expect(pinned.override.replicas).toBe(1)
    expect(Date.parse(pinned.override.until) - Date.now()).toBeGreaterThan(4 * 60_000)
    await waitForField(page, queue, "pin", (t) => t.startsWith("pinned to 1 until"))
    await waitForField(page, queue, "desired", (t) => t === "1")

    await page.click(`${card} [data-a=auto]`)
    await waitForField(page, queue, "msg", (t) => t === "override ended: the policy decides again")
    const released = (await api("GET", "/api/queues")).json.queues.find((q: { name: string }) => q.name === queue)
    expect(released.override).toBeNull()
    await page.close()
  })

  it("lists a queue's dead letters and replays one with its button", async () => {
    const page = await browser.newPage()
    watch(page)
    await page.goto(`${url}/`, { timeout: 20_000 })
    await page.waitForSelector(`[data-queue="${queue}"]`, { timeout: 20_000 })
    const bad = [{ id: "bad-1", fail: "permanent" }, { id: "bad-2", fail: "permanent" }]
    expect((await api("POST", `/api/queues/${queue}/jobs`, bad)).status).toBe(202)
    await waitForField(page, queue, "dlqCount", (t) => t === "2", 30_000)
    const listed = (await api("GET", `/api/queues/${queue}/dlq?limit=5`)).json
    expect(listed.count).toBe(2)
    const newest = listed.deadLetters[0].seq as number
    const shown = await page.$$eval(`[data-queue="${queue}"] ul.dlq li[data-seq]`, (lis) => lis.map((li) => Number(li.getAttribute("data-seq"))))
    expect(shown).toEqual(listed.deadLetters.map((d: { seq: number }) => d.seq))
    expect(await page.$eval(`[data-queue="${queue}"] ul.dlq li[data-seq="${newest}"] .err`, (e) => e.textContent)).toContain("rejected (fail: permanent)")

    await page.click(`[data-queue="${queue}"] ul.dlq li[data-seq="${newest}"] [data-a=replay]`)
    await waitForField(page, queue, "msg", (t) => t.startsWith("replayed 1 dead letter(s)"))
    // The replayed job fails again (fail: permanent) and comes back under a new sequence.
    await waitFor("the replayed dead letter gone from the DLQ", async () =>
      (await api("GET", `/api/queues/${queue}/dlq`)).json.deadLetters.every((d: { seq: number }) => d.seq !== newest), 20_000)
    await page.waitForFunction(`document.querySelector('[data-queue="${queue}"] ul.dlq li[data-seq="${newest}"]') === null`, { timeout: 20_000 })
    await page.close()
  })

  it("follows a live reload: a queue added gets its card, a queue removed loses it", async () => {
    const page = await browser.newPage()
    watch(page)
    await page.goto(`${url}/`, { timeout: 20_000 })
    await page.waitForSelector(`[data-queue="${queue}"]`, { timeout: 20_000 })
    const added = uniqueName("dash-added")
    await reload([main, { name: added, settings: { maxReplicas: 1 } }])
    await page.waitForSelector(`[data-queue="${added}"]`, { timeout: 20_000 })
    expect(await page.$$eval("[data-queue]", (cards) => cards.map((c) => c.getAttribute("data-queue")))).toEqual([queue, added])
    await reload([main])
    await page.waitForFunction(`document.querySelector('[data-queue="${added}"]') === null`, { timeout: 20_000 })
    expect(await page.$$eval("[data-queue]", (cards) => cards.map((c) => c.getAttribute("data-queue")))).toEqual([queue])
    await page.close()
  })

  it("fits a phone's screen (390x844) with no horizontal scrolling", async () => {
    const page = await browser.newPage()
    watch(page)
    await page.setViewport({ width: 390, height: 844, deviceScaleFactor: 2, isMobile: true, hasTouch: true })
    await page.goto(`${url}/`, { timeout: 20_000 })
    await page.waitForSelector(`[data-queue="${queue}"] [data-f=chart] path`, { timeout: 20_000 })
    await waitForField(page, queue, "dlqCount", (t) => shownNumber(t) > 0)
    const widths = await page.evaluate(`({
      viewport: window.innerWidth,
      document: document.documentElement.scrollWidth,
      body: document.body.scrollWidth,
      widest: Math.max(...[...document.querySelectorAll("body *")].map((e) => e.getBoundingClientRect().right))
    })`) as { viewport: number; document: number; body: number; widest: number }
    expect(widths.viewport).toBe(390)
    expect(widths.document).toBeLessThanOrEqual(390)
    expect(widths.body).toBeLessThanOrEqual(390)
    expect(widths.widest).toBeLessThanOrEqual(390)
    // Readable: the numbers are not shrunk below 16 CSS px.
    const size = await page.evaluate(`parseFloat(getComputedStyle(document.querySelector('[data-queue="${queue}"] [data-f=backlog]')).fontSize)`) as number
    expect(size).toBeGreaterThanOrEqual(16)
    expect(await fieldText(page, queue, "name")).toBe(queue)
    await page.close()
  })

  it("asked nothing of any host but the scaler (no CDN, fonts or other network)", () => {
    expect(requested.length).toBeGreaterThan(10)
    const outside = requested.filter((u) => !u.startsWith(`${url}/`) && !u.startsWith("data:"))
    expect(outside).toEqual([])
  })
})
