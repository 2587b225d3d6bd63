// The dashboard at `GET /`: one self-contained page (style and script inline, no font, library or
// CDN: see ./html.ts) that polls `GET /api/dashboard` every 2 s and draws each queue: its numbers, a
// 15-minute SVG chart of backlog and replicas, the latest scale decisions, its newest dead letters,
// and the override and replay buttons, which call the admin API's own routes. Mobile first: one
// column on a phone, two on a wide screen. Everything from the server is set as text (dead-letter
// errors are written by workers), never parsed as HTML.
import { chartScript } from "./dashboard-chart.ts"
import { script } from "./dashboard-script.ts"
import { style } from "./dashboard-style.ts"
import { makePage } from "./html.ts"

const body = `<header class="top">
<h1>jetscale</h1>
<span class="conn" id="conn">connecting…</span>
<span class="conn" id="updated" title="last update"></span>
<form method="post" action="/logout" id="logout" hidden><button class="btn small" type="submit">Log out</button></form>
</header>
<div class="banner" id="refused" role="alert" hidden></div>
<div class="banner bad" id="problem" role="alert" hidden></div>
<div class="banner bad" id="session" role="alert" hidden></div>
<main id="queues" aria-live="polite"></main>
<p class="empty" id="empty" hidden>No queues in the running config.</p>
<template id="card">
<section class="card">
<div class="card-head"><h2 data-f="name"></h2><span class="sub" data-f="stream"></span><span class="badge pin" data-f="pin" hidden></span><span class="badge bad" data-f="failing" hidden></span></div>
<dl class="stats">
<div class="stat"><dt>Backlog</dt><dd data-f="backlog">–</dd><small data-f="pending"></small></div>
<div class="stat"><dt>In flight</dt><dd data-f="inFlight">–</dd><small>on workers</small></div>
<div class="stat"><dt>Running</dt><dd data-f="running">–</dd><small>replicas</small></div>
<div class="stat"><dt>Draining</dt><dd data-f="draining">–</dd><small data-f="suspended">replicas</small></div>
<div class="stat"><dt>Desired</dt><dd data-f="desired">–</dd><small data-f="limits"></small></div>
<div class="stat"><dt>Jobs/s</dt><dd data-f="jobsPerSecond">–</dd><small data-f="failedPerSecond"></small></div>
</dl>
<div class="legend"><span class="l-backlog">backlog</span><span class="l-running">running</span><span class="l-desired">desired</span><span>last 15 min</span></div>
<div class="chart"><svg data-f="chart" role="img" aria-label="backlog and replicas over the last 15 minutes"></svg></div>
<div class="readout" data-f="readout"></div>
<div class="panels">
<div class="p-override">
<h3>Override</h3>
<form class="override" data-f="override">
<label>Replicas<input name="replicas" type="number" min="0" step="1" inputmode="numeric" required></label>
<label>For<select name="ttl"><option value="5m">5 min</option><option value="15m" selected>15 min</option><option value="1h">1 hour</option><option value="4h">4 hours</option><option value="1d">1 day</option></select></label>
<button class="btn primary" type="submit" data-a="pin">Pin</button>
<button class="btn" type="button" data-a="auto">Auto</button>
</form>
<p class="note" data-f="overrideNote"></p>
<p class="msg" data-f="msg" role="status"></p>
</div>
<div class="p-decisions">
<h3>Scale decisions</h3>
<ol class="decisions" data-f="decisions"></ol>
</div>
<div class="p-dlq">
<h3>Dead letters <span class="count" data-f="dlqCount">0</span><button class="btn small" type="button" data-a="replay-all" hidden>Replay all</button></h3>
<ul class="dlq" data-f="dlq"></ul>
</div>
</div>
</section>
</template>`

export const dashboardPage = makePage({ title: "jetscale dashboard", style, body, script: `${chartScript}${script}` })
