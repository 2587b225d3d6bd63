// Screenshots of the dashboard for the README (not a test): a real nats-server and `jetscale up`
// (process driver, demo workers, an admin token), a few minutes of made-up traffic on three queues
// (a wave, bursts, failing jobs that end up in the DLQ, an override), then Debian's headless
// Chromium logs in and writes docs/dashboard.png (1280 wide) and docs/dashboard-phone.png (390 CSS px
// wide, at twice the pixels).
// Run: npm run screenshots   (SCREENSHOT_SECONDS=120 for a shorter run; needs `apt-get install chromium`)
import { mkdir } from "node:fs/promises"
import { setTimeout as sleep } from "node:timers/promises"
import { adminApi, adminUrlOf, launchChromium, logIn, recordRequests, writeDashboardConfig } from "../test/support/dashboard.ts"
import { startNatsServer } from "../test/support/nats-server.ts"
import { startScaler } from "../test/support/scaler-process.ts"

const seconds = Number(process.env.SCREENSHOT_SECONDS ?? 300)
const token = `screenshots-${Math.random().toString(36).slice(2)}`

const nats = await startNatsServer()
const config = await writeDashboardConfig({
  natsUrl: nats.url, token,
  queues: [
    { name: "thumbnails", settings: { maxReplicas: 6, targetPending: 10, concurrency: 2, idleTimeout: "20s", scaleDownDelay: "5s" } },
    { name: "emails", settings: { maxReplicas: 3, targetPending: 20, concurrency: 4, idleTimeout: "15s", scaleDownDelay: "5s" } },
    { name: "reports", settings: { maxReplicas: 2, targetPending: 5, concurrency: 1, idleTimeout: "30s", maxDeliver: 2, backoff: "[500ms]" } }
  ]
})
const scaler = startScaler(config)
const browser = await launchChromium()
const stop = async () => {
  await browser.close().catch(() => {})
  await scaler.stop()
  await nats.stop()
}
process.once("SIGINT", () => void stop().then(() => process.exit(130)))
let running = true

try {
  const url = await adminUrlOf(scaler)
  const api = adminApi(url, token)
  const send = async (queue: string, jobs: ReadonlyArray<object>) => {
    if (jobs.length === 0) return
    const r = await api("POST", `/api/queues/${queue}/jobs`, jobs)
    if (r.status !== 202) throw new Error(`POST /api/queues/${queue}/jobs: ${r.status} ${JSON.stringify(r.json)}`)
  }
  const jobs = (n: number, make: (i: number) => object) => Array.from({ length: n }, (_, i) => make(i))

  // One second of traffic at second `t`; it goes on while the screenshots are taken.
  const traffic = async (t: number) => {
    const phase = t / seconds
    // thumbnails: a wave that rises, eases off and rises higher, then a steady stream.
    const wave = phase < 0.85 ? Math.round(6 + 6 * Math.sin(phase * Math.PI * 3 - Math.PI / 2) + (phase > 0.5 ? 4 : 0)) : 9
    await send("thumbnails", jobs(wave, (i) => ({ id: `t${t}-${i}`, sleepMs: 500 + ((t * 7 + i * 13) % 700) })))
    // emails: bursts, the last one as the screenshots are taken.
    if (t === Math.round(seconds * 0.1) || t === Math.round(seconds * 0.6)) await send("emails", jobs(150, (i) => ({ id: `e${t}-${i}`, sleepMs: 120 })))
    if (t === seconds - 2) await send("emails", jobs(1000, (i) => ({ id: `e${t}-${i}`, sleepMs: 120 })))
    // reports: slow jobs, some of which fail every time or for good.
    if (t % 10 === 0) {
      await send("reports", [
        { id: `r${t}`, sleepMs: 4000 },
        ...(t % 40 === 0 ? [{ id: `r${t}-bad`, fail: "always" }] : []),
        ...(t % 60 === 30 ? [{ id: `r${t}-invalid`, fail: "permanent" }] : [])
      ])
    }
  }
  const load = (async () => {
    for (let t = 0; running; t++) {
      await traffic(t)
      await sleep(1000)
    }
  })()
  console.log(`traffic for ${seconds}s on ${url} ...`)
  await sleep(seconds * 1000)
  await api("POST", "/api/queues/reports/scale", { replicas: 1, ttl: "1h" })

  await mkdir("docs", { recursive: true })
  const page = await browser.newPage()
  const requested = recordRequests(page)
  await page.setViewport({ width: 1280, height: 900, deviceScaleFactor: 1 })
  await logIn(page, url, token)
  await page.waitForSelector("[data-queue=reports] [data-f=chart] path", { timeout: 20_000 })
  await sleep(3000)
  await page.screenshot({ path: "docs/dashboard.png", fullPage: true })
  await page.setViewport({ width: 390, height: 844, deviceScaleFactor: 2, isMobile: true, hasTouch: true })
  await sleep(2500)
  await page.screenshot({ path: "docs/dashboard-phone.png" })
  running = false
  await load
  const outside = requested.filter((u) => !u.startsWith(`${url}/`) && !u.startsWith("data:"))
  if (outside.length > 0) throw new Error(`the page asked other hosts: ${outside.join(", ")}`)
  console.log("wrote docs/dashboard.png and docs/dashboard-phone.png")
} finally {
  running = false
  await stop()
}
