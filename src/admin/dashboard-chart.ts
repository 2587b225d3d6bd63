// The dashboard's chart (part of its script, see ./dashboard-script.ts): a queue's last 15 minutes as
// SVG drawn at the card's width in CSS pixels, so text stays readable on a phone: backlog as an area
// on the left axis, running (solid) and desired (dashed) replicas as steps on the right one. A
// missing value or a pause longer than two sampling intervals breaks the lines; the newest point is
// the numbers shown now. Pointing at it shows the nearest sample's numbers below.
export const chartScript = `
var svgNs = "http://www.w3.org/2000/svg";
function svgEl(tag, attrs) {
  var e = document.createElementNS(svgNs, tag);
  Object.keys(attrs).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
  return e;
}
/** The backlog axis' top: 4, 6, 8, 10, 20, 40, 60, ... (its middle is a whole number too). */
function niceMax(v) {
  if (v <= 4) return 4;
  var p = Math.pow(10, Math.floor(Math.log10(v)));
  var steps = [1, 2, 4, 6, 8, 10];
  for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
  return 10 * p;
}
function linePath(points, x, y, step) {
  var d = "", prev = null;
  points.forEach(function (p) {
    if (p === null) { prev = null; return; }
    if (prev === null) d += "M" + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1);
    else if (step) d += "H" + x(p[0]).toFixed(1) + "V" + y(p[1]).toFixed(1);
    else d += "L" + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1);
    prev = p;
  });
  return d;
}
/** Runs of the series between gaps (a missing value, or no sample for over two intervals). */
function series(samples, pick, every) {
  var out = [], prevAt = null;
  samples.forEach(function (s) {
    var v = pick(s);
    if (prevAt !== null && s.at - prevAt > 2.5 * every) out.push(null);
    out.push(v === null ? null : [s.at, v]);
    prevAt = s.at;
  });
  return out;
}
function drawChart(card) {
  var q = card.data, svg = field(card, "chart");
  if (!last) return;
  var w = Math.max(200, Math.round(svg.clientWidth || 600)), h = 170;
  var padL = 34, padR = 26, padT = 8, padB = 18;
  var now = last.at, from = now - last.windowSeconds * 1000, every = last.sampleEverySeconds * 1000;
  // The samples, then the numbers shown now, so the chart ends where the numbers are.
  var samples = card.history.filter(function (s) { return s.at >= from && s.at < now; }).concat([{
    at: now, backlog: q.backlog, inFlight: q.inFlight, running: q.running, draining: q.draining, desired: q.desired, jobsPerSecond: q.jobsPerSecond
  }]);
  var maxBacklog = niceMax(samples.reduce(function (m, s) { return Math.max(m, s.backlog || 0); }, 0));
  var maxReplicas = Math.max(1, q.maxReplicas, samples.reduce(function (m, s) { return Math.max(m, s.running, s.desired); }, 0));
  var x = function (t) { return padL + (t - from) / (now - from) * (w - padL - padR); };
  var yb = function (v) { return padT + (1 - v / maxBacklog) * (h - padT - padB); };
  var yr = function (v) { return padT + (1 - v / maxReplicas) * (h - padT - padB); };
  svg.setAttribute("viewBox", "0 0 " + w + " " + h);
  var nodes = [];
  var label = function (x, y, anchor, text) {
    var t = svgEl("text", { x: x, y: y + 3, "text-anchor": anchor });
    t.textContent = text;
    nodes.push(t);
  };
  [0, maxBacklog / 2, maxBacklog].forEach(function (v) {
    nodes.push(svgEl("line", { class: "grid", x1: padL, x2: w - padR, y1: yb(v), y2: yb(v) }));
    label(padL - 4, yb(v), "end", fmt.format(v));
  });
  [0, Math.round(maxReplicas / 2), maxReplicas].forEach(function (v, i) {
    if (i === 1 && (v === 0 || v === maxReplicas)) return;
    label(w - padR + 4, yr(v), "start", String(v));
  });
  [15, 10, 5, 0].forEach(function (m) {
    var t = now - m * 60000, xx = x(t);
    nodes.push(svgEl("line", { class: "grid", x1: xx, x2: xx, y1: padT, y2: h - padB }));
    label(xx, h - 7, m === 15 ? "start" : m === 0 ? "end" : "middle", m === 0 ? "now" : "-" + m + "m");
  });
  var backlog = series(samples, function (s) { return s.backlog; }, every);
  var runs = [], run = [];
  backlog.forEach(function (p) { if (p === null) { if (run.length) runs.push(run); run = []; } else run.push(p); });
  if (run.length) runs.push(run);
  runs.forEach(function (r) {
    var d = linePath(r, x, yb, false) + "L" + x(r[r.length - 1][0]).toFixed(1) + " " + yb(0) + "L" + x(r[0][0]).toFixed(1) + " " + yb(0) + "Z";
    nodes.push(svgEl("path", { class: "area", d: d }));
  });
  nodes.push(svgEl("path", { class: "backlog", d: linePath(backlog, x, yb, false) }));
  nodes.push(svgEl("path", { class: "running", d: linePath(series(samples, function (s) { return s.running; }, every), x, yr, true) }));
  nodes.push(svgEl("path", { class: "desired", d: linePath(series(samples, function (s) { return s.desired; }, every), x, yr, true) }));
  var readout = "";
  if (card.hover !== null && samples.length > 0) {
    var t = from + (card.hover - padL) / (w - padL - padR) * (now - from);
    var near = samples.reduce(function (a, s) { return Math.abs(s.at - t) < Math.abs(a.at - t) ? s : a; });
    nodes.push(svgEl("line", { class: "cursor", x1: x(near.at), x2: x(near.at), y1: padT, y2: h - padB }));
    readout = clock(near.at) + " · backlog " + num(near.backlog) + " · in flight " + num(near.inFlight) + " · running " + near.running + " · desired " + near.desired + " · " + fmtRate.format(near.jobsPerSecond) + " jobs/s";
  } else if (card.history.length === 0) {
    readout = "history: a sample every " + last.sampleEverySeconds + "s from now on";
  }
  svg.replaceChildren.apply(svg, nodes);
  setText(card, "readout", readout);
}
`
