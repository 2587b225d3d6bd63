// The dashboard in a real browser, for its end-to-end test and the screenshot script: Debian's
// headless Chromium (`apt-get install chromium`) driven by puppeteer-core, a `jetscale up` with an
// admin token and demo queues of the process driver, and the steps a user takes (log in, read a
// queue's numbers). Every wait is bounded.
import { existsSync } from "node:fs"
import puppeteer, { type Browser, type HTTPRequest, type Page } from "puppeteer-core"
import { writeConfig, type ScalerProcess } from "./scaler-process.ts"
import { waitFor } from "./wait.ts"

export const chromiumPath = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium"

/** Headless Chromium; `--no-sandbox` because CI runs as root. */
export const launchChromium = async (): Promise<Browser> => {
  if (!existsSync(chromiumPath)) throw new Error(`no Chromium at ${chromiumPath}: apt-get install -y chromium (or set CHROMIUM_BIN)`)
  return puppeteer.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--headless=new", "--no-sandbox", "--no-first-run", "--no-default-browser-check", "--disable-gpu", "--disable-dev-shm-usage"],
    timeout: 30_000
  })
}

export interface DemoQueue {
  readonly name: string
  /** The queue's further keys, e.g. `{ maxReplicas: 3 }`. */
  readonly settings?: Readonly<Record<string, string | number>>
}

export interface DashboardConfig {
  readonly natsUrl: string
  readonly token: string
  readonly queues: ReadonlyArray<DemoQueue>
}

/** A config with an admin token, a free admin port and the demo worker (process driver) on each queue. */
export const dashboardConfig = (o: DashboardConfig): string =>
  [
    `nats: { url: "${o.natsUrl}" }`,
    "runtime: { driver: process }",
    "scaler: { interval: 500ms }",
    `admin: { listen: "127.0.0.1:0", token: "${o.token}" }`,
    "queues:",
    ...o.queues.flatMap((q) => [
      `  ${q.name}:`,
      `    command: ${JSON.stringify(["node", "services/workers/demo/dist/main.js"])}`,
      ...Object.entries(q.settings ?? {}).map(([k, v]) => `    ${k}: ${v}`)
    ])
  ].join("\n") + "\n"

/** {@link dashboardConfig} in a file of its own. */
export const writeDashboardConfig = (o: DashboardConfig): Promise<string> => writeConfig(dashboardConfig(o))

/** The admin URL the scaler announced. */
export const adminUrlOf = async (scaler: ScalerProcess): Promise<string> => {
  await scaler.waitForOutput("admin API on", 30_000)
  return /admin API on (http:\/\/[\d.]+:\d+)/.exec(scaler.output())![1]!
}

/** The admin API with the bearer token. */
export const adminApi = (url: string, token: string) => async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000)
  })
  return { status: res.status, json: await res.json() as any }
}

/** Every URL the page asks for from now on, added to `urls`. */
export const recordRequests = (page: Page, urls: Array<string> = []): Array<string> => {
  page.on("request", (r: HTTPRequest) => void urls.push(r.url()))
  return urls
}

/** Opens `/`, which shows the login form, and logs in with `token`; resolves on the dashboard. */
export const logIn = async (page: Page, url: string, token: string) => {
  await page.goto(`${url}/`, { waitUntil: "load", timeout: 20_000 })
  await page.waitForSelector("#token", { timeout: 10_000 })
  await page.type("#token", token)
  await Promise.all([page.waitForNavigation({ timeout: 20_000 }), page.click("button[type=submit]")])
}

/** The text of a queue card's field (`backlog`, `desired`, `running`, `dlqCount`, `msg`, ...). */
export const fieldText = (page: Page, queue: string, field: string): Promise<string> =>
  page.$eval(`[data-queue="${queue}"] [data-f="${field}"]`, (e) => e.textContent ?? "")

/** Waits until `check` holds for a queue card's field; returns its text then. */
export const waitForField = (page: Page, queue: string, field: string, check: (text: string) => boolean, timeoutMs = 20_000) =>
  waitFor(`queue ${queue}'s ${field} on the page`, async () => {
    const text = await fieldText(page, queue, field)
    return check(text) ? text : undefined
  }, timeoutMs, 100)

/** A number the page shows (`1,234` -> 1234; `–` -> NaN). */
export const shownNumber = (text: string): number => Number(text.replaceAll(/[,\s]/g, ""))
