// The dashboard's script (inlined into the page by ./dashboard-page.ts), plain ES2020 run by the
// browser as written, so without template literals (this file is one). It polls `GET /api/dashboard`
// every 2 s (10 s in a hidden tab), keeps one card per queue (built once from the page's <template>,
// so a form being filled in survives the updates), draws each chart as SVG at the card's width, and
// sends the override and replay buttons' requests to the admin API. Text from the server is only
// ever set as text. A 401 (session ended) stops the polling and offers to log in again.
export const script = `
"use strict";
var pollMs = 2000, hiddenPollMs = 10000;
var cards = new Map();
var timer = null;
var last = null;
var loggedOut = false;
/** The newest sample the page has: the next poll asks only for newer ones. */
var since = 0;
var $ = function (id) { return document.getElementById(id); };
var fmt = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
var fmtRate = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
var num = function (n) { return n === null || n === undefined ? "–" : fmt.format(n); };
var clock = function (ms) { return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }); };
var ago = function (ms) {
  var s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  return s < 60 ? s + "s ago" : s < 3600 ? Math.round(s / 60) + "m ago" : Math.round(s / 3600) + "h ago";
};
var el = function (tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
};
var field = function (card, name) { return card.el.querySelector("[data-f=" + name + "]"); };
var setText = function (card, name, text) { var f = field(card, name); if (f.textContent !== text) f.textContent = text; };
var apiPath = function (queue, rest) { return "/api/queues/" + encodeURIComponent(queue) + rest; };

function say(card, text, kind) {
  var m = field(card, "msg");
  m.textContent = text;
  m.className = "msg" + (kind ? " " + kind : "");
}

async function call(method, path, body) {
  var init = { method: method, headers: { accept: "application/json" }, cache: "no-store" };
  if (body !== undefined) { init.headers["content-type"] = "application/json"; init.body = JSON.stringify(body); }
  var res = await fetch(path, init);
  var json = {};
  try { json = await res.json(); } catch (e) { json = {}; }
  if (res.status === 401) sessionEnded();
  return { status: res.status, ok: res.ok, json: json };
}

async function act(card, button, method, path, body, done) {
  button.disabled = true;
  say(card, "…");
  try {
    var r = await call(method, path, body);
    var text = done(r);
    if (text !== null) say(card, text, "ok");
    else say(card, r.json.error || ("HTTP " + r.status), "bad");
  } catch (e) {
    say(card, "the scaler did not answer: " + e.message, "bad");
  } finally {
    button.disabled = false;
    poll();
  }
}

function makeCard(q) {
  var node = $("card").content.firstElementChild.cloneNode(true);
  node.dataset.queue = q.name;
  var card = { el: node, name: q.name, data: q, history: [], hover: null, edited: false };
  var form = field(card, "override");
  form.replicas.max = String(q.maxReplicas);
  // Follows the desired count until the user edits it.
  form.replicas.addEventListener("input", function () { card.edited = true; });
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var replicas = Number(form.replicas.value);
    act(card, form.querySelector("[data-a=pin]"), "POST", apiPath(card.name, "/scale"), { replicas: replicas, ttl: form.ttl.value }, function (r) {
      if (!r.ok) return null;
      card.edited = false;
      return "pinned to " + r.json.replicas + " replica(s) until " + clock(Date.parse(r.json.until));
    });
  });
  form.querySelector("[data-a=auto]").addEventListener("click", function (ev) {
    act(card, ev.currentTarget, "DELETE", apiPath(card.name, "/scale"), undefined, function (r) {
      return r.ok ? "override ended: the policy decides again" : r.status === 404 && r.json.override === "none" ? "no override in force: the policy already decides" : null;
    });
  });
  node.querySelector("[data-a=replay-all]").addEventListener("click", function (ev) {
    var n = card.data.dlq ? card.data.dlq.count : 0;
    if (!confirm("Replay all " + n + " dead letter(s) of queue " + card.name + "?")) return;
    act(card, ev.currentTarget, "POST", apiPath(card.name, "/dlq/replay"), { all: true }, replayDone);
  });
  var svg = field(card, "chart");
  svg.addEventListener("pointermove", function (ev) { card.hover = ev.clientX - svg.getBoundingClientRect().left; drawChart(card); });
  svg.addEventListener("pointerleave", function () { card.hover = null; drawChart(card); });
  return card;
}

function replayDone(r) {
  if (!r.ok) return null;
  var text = "replayed " + r.json.replayed + " dead letter(s)";
  if (r.json.refused > 0) text += "; refused " + r.json.refused + ": " + r.json.refusals.map(function (x) { return x.reason; }).join("; ");
  return text;
}

function fillDecisions(card, q) {
  var list = field(card, "decisions");
  list.replaceChildren();
  if (q.decisions.length === 0) { list.append(el("li", "none", "none yet")); return; }
  q.decisions.slice(0, 5).forEach(function (d) {
    var li = el("li");
    var head = el("div", "line1");
    var at = Date.parse(d.at);
    var when = el("span", "when", clock(at));
    when.title = d.at + " (" + ago(at) + ")";
    head.append(when, el("span", "move", d.from + " → " + d.to), el("span", "kind", d.kind));
    li.append(head, el("div", "why", d.reason));
    list.append(li);
  });
}

function fillDeadLetters(card, q) {
  var list = field(card, "dlq");
  var all = card.el.querySelector("[data-a=replay-all]");
  list.replaceChildren();
  if (!q.dlq) { setText(card, "dlqCount", "?"); all.hidden = true; list.append(el("li", "none", "unknown: the DLQ could not be read")); return; }
  setText(card, "dlqCount", num(q.dlq.count));
  all.hidden = q.dlq.count === 0;
  if (q.dlq.count === 0) { list.append(el("li", "none", "none")); return; }
  q.dlq.newest.forEach(function (e) {
    var li = el("li");
    li.dataset.seq = String(e.seq);
    var head = el("div", "line1");
    var at = Date.parse(e.failedAt);
    var when = el("span", "when", isNaN(at) ? e.failedAt : clock(at));
    when.title = e.failedAt;
    var button = el("button", "btn small", "Replay");
    button.type = "button";
    button.dataset.a = "replay";
    button.addEventListener("click", function () {
      act(card, button, "POST", apiPath(card.name, "/dlq/replay"), { seqs: [e.seq] }, replayDone);
    });
    head.append(el("span", "move", "#" + e.seq), when, el("span", "kind", e.reason), el("span", "when", e.deliveries === 1 ? "1 delivery" : e.deliveries + " deliveries"));
    var error = el("div", "err", e.error);
    error.title = e.error;
    var text = el("div");
    text.append(head, error);
    li.append(text, button);
    list.append(li);
  });
  if (q.dlq.count > q.dlq.newest.length) list.append(el("li", "none", fmt.format(q.dlq.count - q.dlq.newest.length) + " older: jetscale dlq list " + card.name));
}

/** Appends the samples newer than the card's, and forgets those out of the window. */
function mergeHistory(card, samples, now) {
  var newest = card.history.length > 0 ? card.history[card.history.length - 1].at : -Infinity;
  samples.forEach(function (s) { if (s.at > newest) card.history.push(s); });
  var from = now - last.windowSeconds * 1000;
  while (card.history.length > 0 && card.history[0].at < from) card.history.shift();
  card.history.forEach(function (s) { if (s.at > since) since = s.at; });
}

function update(card, q) {
  card.data = q;
  mergeHistory(card, q.history, last.at);
  setText(card, "name", q.name);
  setText(card, "stream", q.stream);
  setText(card, "backlog", num(q.backlog));
  setText(card, "pending", q.pending === null ? "not read yet" : num(q.pending) + " waiting");
  setText(card, "inFlight", num(q.inFlight));
  setText(card, "running", num(q.running));
  setText(card, "draining", num(q.draining));
  setText(card, "suspended", q.suspended + q.suspending > 0 ? num(q.suspended + q.suspending) + " suspended" : "replicas");
  setText(card, "desired", num(q.desired));
  setText(card, "limits", q.minReplicas > 0 ? q.minReplicas + " to " + q.maxReplicas : "max " + q.maxReplicas);
  setText(card, "jobsPerSecond", fmtRate.format(q.jobsPerSecond));
  setText(card, "failedPerSecond", q.failedPerSecond > 0 ? fmtRate.format(q.failedPerSecond) + "/s failed" : "finished");
  var pin = field(card, "pin");
  pin.hidden = q.override === null;
  if (q.override) pin.textContent = "pinned to " + q.override.replicas + " until " + clock(Date.parse(q.override.until));
  setText(card, "overrideNote", q.override ? "Pinned to " + q.override.replicas + " replica(s) until " + clock(Date.parse(q.override.until)) + "; Auto hands it back to the policy." : "The policy decides (target " + q.targetPending + " jobs per replica).");
  var failing = field(card, "failing");
  failing.hidden = q.reconcileError === null;
  if (q.reconcileError) { failing.textContent = "reconcile failing"; failing.title = q.reconcileError; }
  var replicas = field(card, "override").replicas;
  replicas.max = String(q.maxReplicas);
  if (!card.edited && document.activeElement !== replicas) replicas.value = String(q.desired);
  fillDecisions(card, q);
  fillDeadLetters(card, q);
  drawChart(card);
}

function render(d) {
  last = d;
  $("logout").hidden = !d.auth;
  var refused = $("refused");
  refused.hidden = d.configRefused === null;
  if (d.configRefused) refused.textContent = "Config refused at " + d.configRefused.at + "; the running config stays: " + d.configRefused.problems.join("; ");
  var problem = $("problem");
  problem.hidden = d.dlqError === null;
  if (d.dlqError) problem.textContent = "Dead letters could not be read: " + d.dlqError;
  var main = $("queues");
  var seen = new Set();
  d.queues.forEach(function (q, i) {
    seen.add(q.name);
    var card = cards.get(q.name);
    if (!card) { card = makeCard(q); cards.set(q.name, card); }
    if (main.children[i] !== card.el) main.insertBefore(card.el, main.children[i] || null);
    update(card, q);
  });
  cards.forEach(function (card, name) { if (!seen.has(name)) { card.el.remove(); cards.delete(name); } });
  $("empty").hidden = d.queues.length > 0;
  $("updated").textContent = clock(d.at);
}

function connection(ok, text) {
  var c = $("conn");
  c.className = "conn " + (ok ? "ok" : "down");
  c.textContent = text;
}

function sessionEnded() {
  loggedOut = true;
  var p = $("session");
  p.replaceChildren(document.createTextNode("Your session has ended (the scaler restarted, or you logged out). "), el("a", "", "Log in again"));
  p.lastChild.href = "/";
  p.hidden = false;
  connection(false, "logged out");
  clearTimeout(timer);
  timer = null;
}

/** One poll at a time: a poll asked for while one is out (after a button) runs when it is back. */
var polling = false, pollAgain = false;
async function poll() {
  if (loggedOut) return;
  if (polling) { pollAgain = true; return; }
  polling = true;
  clearTimeout(timer);
  timer = null;
  try {
    var r = await call("GET", "/api/dashboard?since=" + since);
    if (r.status !== 401) {
      if (!r.ok) throw new Error(r.json.error || "HTTP " + r.status);
      render(r.json);
      connection(true, "live");
    }
  } catch (e) {
    connection(false, "no answer from the scaler, retrying");
  } finally {
    polling = false;
  }
  if (loggedOut) return;
  if (pollAgain) { pollAgain = false; poll(); return; }
  timer = setTimeout(poll, document.hidden ? hiddenPollMs : pollMs);
}

document.addEventListener("visibilitychange", function () { if (!document.hidden && timer !== null) poll(); });
window.addEventListener("resize", function () { cards.forEach(drawChart); });
poll();
`
