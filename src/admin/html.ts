// Self-contained HTML pages of the admin API (the dashboard, its login form): one document with its
// style and script inline, and a Content-Security-Policy that allows exactly those (by hash) and
// requests to the scaler itself: nothing is loaded from anywhere else, and nothing can be.
import { createHash } from "node:crypto"
import { HttpServerResponse } from "effect/http"

export interface Page {
  readonly html: string
  readonly csp: string
}

const hash = (s: string) => `'sha256-${createHash("sha256").update(s, "utf8").digest("base64")}'`

/** Text for HTML element content and attribute values. */
export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c]!)

export const makePage = (o: { readonly title: string; readonly style: string; readonly body: string; readonly script?: string }): Page => {
  const script = o.script === undefined ? "" : `<script>${o.script}</script>`
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${escapeHtml(o.title)}</title>
<link rel="icon" href="data:,">
<style>${o.style}</style>
</head>
<body>
${o.body}
${script}
</body>
</html>
`
  const csp = [
    "default-src 'none'",
    `style-src ${hash(o.style)}`,
    ...(o.script === undefined ? [] : [`script-src ${hash(o.script)}`]),
    "connect-src 'self'",
    "img-src data:",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'"
  ].join("; ")
  return { html, csp }
}

/** The page as a response: never cached, never framed, never sniffed. */
export const pageResponse = (page: Page, status = 200, headers: Readonly<Record<string, string>> = {}) =>
  HttpServerResponse.text(page.html, {
    status,
    contentType: "text/html; charset=utf-8",
    headers: {
      "content-security-policy": page.csp,
      "cache-control": "no-store",
      "x-content-type-options": "nosniff",
      "referrer-policy": "no-referrer",
      "x-frame-options": "DENY",
      ...headers
    }
  })
