// The dashboard's stylesheet (inlined into the page by ./dashboard-page.ts): system fonts, light and
// dark colours, one column on a phone and two cards side by side on a wide screen; inside a card,
// container queries lay the numbers out in one row and the panels in two columns when there is room.
export const style = `
:root { color-scheme: light dark; --bg: #f4f5f7; --card: #fff; --fg: #1c2330; --muted: #5b6472; --line: #dfe3e9; --soft: #eef1f5;
  --backlog: #2563eb; --running: #0f9d58; --desired: #e8710a; --bad: #c2261d; --warn: #9a6700; --accent: #2563eb; }
@media (prefers-color-scheme: dark) { :root { --bg: #0f1319; --card: #181e27; --fg: #e6e9ee; --muted: #9aa3b2; --line: #2b3340; --soft: #212935;
  --backlog: #5b8def; --running: #34c77b; --desired: #f59e42; --bad: #f0645a; --warn: #e3b341; --accent: #5b8def; } }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
button, input, select { font: inherit; color: inherit; }
.top { position: sticky; top: 0; z-index: 2; display: flex; flex-wrap: wrap; align-items: center; gap: 6px 14px; padding: 10px 16px;
  background: var(--card); border-bottom: 1px solid var(--line); }
.top h1 { margin: 0; font-size: 1.15rem; letter-spacing: .01em; }
.conn { display: inline-flex; align-items: center; gap: 6px; color: var(--muted); font-size: .85rem; }
.conn::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: var(--muted); }
.conn.ok::before { background: var(--running); }
.conn.down::before { background: var(--bad); }
.top form { margin-left: auto; }
.banner { margin: 12px 16px 0; padding: 10px 12px; border-radius: 8px; background: var(--soft); border-left: 4px solid var(--warn); overflow-wrap: anywhere; }
.banner.bad { border-left-color: var(--bad); }
.banner a { color: var(--accent); font-weight: 600; }
main { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(100%, 560px), 1fr)); gap: 16px; padding: 16px; max-width: 1800px; margin: 0 auto; }
.empty { padding: 24px 16px; color: var(--muted); text-align: center; }
.card { container-type: inline-size; min-width: 0; background: var(--card); border: 1px solid var(--line); border-radius: 12px; padding: 14px; }
.card-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 10px; margin-bottom: 10px; }
.card-head h2 { margin: 0; font-size: 1.1rem; overflow-wrap: anywhere; }
.card-head .sub { color: var(--muted); font-size: .8rem; }
.badge { font-size: .75rem; font-weight: 600; padding: 2px 8px; border-radius: 999px; background: var(--soft); }
.badge.pin { color: var(--desired); }
.badge.bad { color: var(--bad); }
.stats { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 8px; margin: 0 0 12px; }
@container (min-width: 540px) { .stats { grid-template-columns: repeat(6, minmax(0, 1fr)); } }
.stat { background: var(--soft); border-radius: 8px; padding: 6px 8px; min-width: 0; }
.stat dt { font-size: .72rem; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.stat dd { margin: 0; font-size: 1.35rem; font-weight: 650; font-variant-numeric: tabular-nums; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.stat small { display: block; font-size: .7rem; color: var(--muted); font-weight: 400; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.chart { margin: 0 0 6px; }
.chart svg { display: block; width: 100%; height: 170px; touch-action: pan-y; }
.chart text { fill: var(--muted); font-size: 10px; font-variant-numeric: tabular-nums; }
.chart .grid { stroke: var(--line); stroke-width: 1; }
.chart .area { fill: var(--backlog); fill-opacity: .18; stroke: none; }
.chart .backlog { fill: none; stroke: var(--backlog); stroke-width: 1.5; }
.chart .running { fill: none; stroke: var(--running); stroke-width: 2; }
.chart .desired { fill: none; stroke: var(--desired); stroke-width: 1.5; stroke-dasharray: 4 3; }
.chart .cursor { stroke: var(--muted); stroke-width: 1; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: .78rem; color: var(--muted); margin-bottom: 2px; }
.legend span::before { content: ""; display: inline-block; width: 14px; height: 3px; margin-right: 5px; vertical-align: middle; border-radius: 2px; }
.legend .l-backlog::before { background: var(--backlog); }
.legend .l-running::before { background: var(--running); }
.legend .l-desired::before { background: repeating-linear-gradient(90deg, var(--desired) 0 4px, transparent 4px 7px); }
.readout { font-size: .78rem; color: var(--muted); min-height: 1.2em; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
h3 { font-size: .82rem; text-transform: uppercase; letter-spacing: .05em; color: var(--muted); margin: 14px 0 6px; display: flex; align-items: center; gap: 8px; }
h3 .count { color: var(--fg); }
h3 button { margin-left: auto; }
.override { display: flex; flex-wrap: wrap; align-items: end; gap: 8px; }
.override label { display: flex; flex-direction: column; font-size: .75rem; color: var(--muted); gap: 2px; }
.override input { width: 5.5em; }
.override input, .override select { padding: 7px 8px; border: 1px solid var(--line); border-radius: 8px; background: var(--bg); }
.btn { padding: 7px 12px; border-radius: 8px; border: 1px solid var(--line); background: var(--soft); cursor: pointer; font-weight: 600; }
.btn.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
.btn:disabled { opacity: .55; cursor: default; }
.btn.small { padding: 3px 9px; font-size: .8rem; }
.note, .msg { font-size: .82rem; color: var(--muted); margin: 6px 0 0; overflow-wrap: anywhere; }
.msg.bad { color: var(--bad); }
.msg.ok { color: var(--running); }
ol.decisions, ul.dlq { list-style: none; margin: 0; padding: 0; }
ol.decisions li, ul.dlq li { padding: 6px 0; border-top: 1px solid var(--line); font-size: .85rem; min-width: 0; }
ol.decisions li:first-child, ul.dlq li:first-child { border-top: 0; }
.line1 { display: flex; flex-wrap: wrap; align-items: center; gap: 2px 10px; }
.line1 .when { color: var(--muted); font-variant-numeric: tabular-nums; }
.line1 .move { font-weight: 650; font-variant-numeric: tabular-nums; }
.line1 .kind { font-size: .75rem; padding: 0 6px; border-radius: 999px; background: var(--soft); }
ul.dlq li { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: 2px 10px; align-items: start; }
ul.dlq li.none { display: block; }
.panels { display: grid; grid-template-columns: minmax(0, 1fr); column-gap: 28px; }
@container (min-width: 820px) {
  .panels { grid-template-columns: repeat(2, minmax(0, 1fr)); }
  .p-override { grid-column: 1; grid-row: 1; }
  .p-decisions { grid-column: 1; grid-row: 2; }
  .p-dlq { grid-column: 2; grid-row: 1 / span 2; }
}
.why { color: var(--muted); overflow-wrap: anywhere; }
.err { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: .78rem; overflow-wrap: anywhere;
  display: -webkit-box; -webkit-line-clamp: 3; -webkit-box-orient: vertical; overflow: hidden; }
.none { color: var(--muted); font-size: .85rem; }
`
