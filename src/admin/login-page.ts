// The login form `GET /` answers (401) when a token is configured and the browser has no session:
// one field for the admin token, posted to `/login`. It shows no data of the scaler.
import { escapeHtml, makePage, type Page } from "./html.ts"

const style = `
:root { color-scheme: light dark; --bg: #f4f5f7; --card: #fff; --fg: #1c2330; --muted: #5b6472; --line: #d8dce3; --accent: #2563eb; --bad: #c2261d; }
@media (prefers-color-scheme: dark) { :root { --bg: #0f1319; --card: #181e27; --fg: #e6e9ee; --muted: #9aa3b2; --line: #2b3340; --accent: #5b8def; --bad: #f0645a; } }
* { box-sizing: border-box; }
body { margin: 0; min-height: 100vh; display: grid; place-items: center; padding: 16px; background: var(--bg); color: var(--fg);
  font: 16px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { width: 100%; max-width: 360px; background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 24px; }
h1 { margin: 0 0 4px; font-size: 1.4rem; }
p { margin: 0 0 16px; color: var(--muted); }
label { display: block; font-weight: 600; margin-bottom: 6px; }
input { width: 100%; padding: 10px 12px; font: inherit; border: 1px solid var(--line); border-radius: 8px; background: var(--bg); color: var(--fg); }
button { margin-top: 14px; width: 100%; padding: 10px 12px; font: inherit; font-weight: 600; border: 0; border-radius: 8px; background: var(--accent); color: #fff; cursor: pointer; }
.error { color: var(--bad); font-weight: 600; }
`

/** The form, with `message` (a fixed text of ours, escaped anyway) above it when there is one. */
export const loginPage = (message?: string): Page => makePage({
  title: "jetscale: log in",
  style,
  body: `<main>
<h1>jetscale</h1>
<p>This scaler's admin API wants its token (<code>admin.token</code> or <code>JETSCALE_ADMIN_TOKEN</code>).</p>
${message === undefined ? "" : `<p class="error" role="alert" id="login-error">${escapeHtml(message)}</p>`}
<form method="post" action="/login">
<input name="username" type="text" value="jetscale" autocomplete="username" hidden>
<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<button type="submit">Log in</button>
</form>
</main>`
})
