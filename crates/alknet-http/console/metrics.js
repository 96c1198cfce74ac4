// The live metrics panel: calls per second and p50/p99 latency per operation, drawn from the
// node's own /metrics (Prometheus text), read with the caller's token like any other request —
// the console adds no authority, so a token without the node's metrics scope sees why not.

import { element } from "/alknet/console/form.js";

const SVG = "http://www.w3.org/2000/svg";
/** How often the metrics are read, and how much history is kept. */
const POLL_MS = 2000;
const KEEP_S = 600;
/** Rates and percentiles are over this much of the history. */
const WINDOW_S = 60;
const SERIES = 4;

/** `name{labels} value` lines of the Prometheus text format, for the metric names wanted. */
export function parse(text, wanted) {
  const samples = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match || !wanted.has(match[1])) continue;
    const labels = {};
    const pairs = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
    for (let pair = pairs.exec(match[3] ?? ""); pair; pair = pairs.exec(match[3] ?? "")) {
      labels[pair[1]] = pair[2].replace(/\\(.)/g, (_, c) => (c === "n" ? "\n" : c));
    }
    samples.push({ name: match[1], labels, value: Number(match[4]) });
  }
  return samples;
}

/** Per operation: calls, errors, in flight and the cumulative duration buckets. */
function snapshot(text) {
  const ops = new Map();
  const of = (name) => {
    if (!ops.has(name)) ops.set(name, { count: 0, errors: 0, inFlight: 0, buckets: new Map() });
    return ops.get(name);
  };
  const wanted = new Set(["alknet_call_duration_seconds_bucket", "alknet_call_duration_seconds_count", "alknet_calls_in_flight"]);
  for (const { name, labels, value } of parse(text, wanted)) {
    const op = of(labels.operation ?? "?");
    if (name === "alknet_calls_in_flight") op.inFlight += value;
    else if (name.endsWith("_count")) {
      op.count += value;
      if (labels.code !== "OK") op.errors += value;
    } else {
      const le = labels.le === "+Inf" ? Infinity : Number(labels.le);
      op.buckets.set(le, (op.buckets.get(le) ?? 0) + value);
    }
  }
  return { at: performance.now() / 1000, ops };
}

/** The `q` quantile (seconds) of the calls between two snapshots of one operation's buckets. */
function quantile(q, now, then) {
  const bounds = [...now.buckets.keys()].sort((a, b) => a - b);
  const counts = bounds.map((le) => now.buckets.get(le) - (then?.buckets.get(le) ?? 0));
  const total = counts.at(-1) ?? 0;
  if (total <= 0) return null;
  const rank = q * total;
  for (let i = 0; i < bounds.length; i += 1) {
    if (counts[i] < rank) continue;
    const lower = i === 0 ? 0 : bounds[i - 1];
    const below = i === 0 ? 0 : counts[i - 1];
    if (bounds[i] === Infinity) return lower;
    const inBucket = counts[i] - below;
    return lower + (bounds[i] - lower) * (inBucket > 0 ? (rank - below) / inBucket : 1);
  }
  return null;
}

const spanText = (span) => (span < 120 ? `${Math.round(span)} s` : `${Math.round(span / 60)} min`);
const ms = (seconds) => (seconds === null ? "—" : seconds < 0.01 ? `${(seconds * 1000).toFixed(2)} ms` : `${(seconds * 1000).toFixed(0)} ms`);

/** A line chart of `series` ({name, points: [[t, v]]}) into `svg`, titled `title`. */
function chart(svg, title, series, unit, span) {
  const width = 560;
  const height = 150;
  const pad = 52;
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("role", "img");
  const max = Math.max(1e-9, ...series.flatMap((s) => s.points.map(([, v]) => v)));
  const now = performance.now() / 1000;
  const x = (t) => pad + ((t - (now - span)) / span) * (width - pad - 8);
  const y = (v) => height - 18 - (v / max) * (height - 30);
  const add = (tag, attributes, text) => {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  add("title", {}, title);
  add("line", { x1: pad, y1: y(0), x2: width - 8, y2: y(0), class: "axis" });
  add("line", { x1: pad, y1: y(max), x2: pad, y2: y(0), class: "axis" });
  add("text", { x: pad - 4, y: y(max) + 4, "text-anchor": "end", class: "tick" }, unit(max));
  add("text", { x: pad - 4, y: y(0) + 4, "text-anchor": "end", class: "tick" }, "0");
  add("text", { x: pad, y: height - 3, class: "tick" }, `−${spanText(span)}`);
  add("text", { x: width - 8, y: height - 3, "text-anchor": "end", class: "tick" }, "now");
  series.forEach((s, i) => {
    if (s.points.length < 2) return;
    const d = s.points.map(([t, v], j) => `${j ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    add("path", { d, class: `series series-${i}` });
  });
}

/** The panel inside `root`: polls while shown; `token()` gives the caller's token. */
export function metricsPanel(root, token) {
  const status = element("p", "", { class: "muted", "aria-live": "polite" });
  const rateChart = document.createElementNS(SVG, "svg");
  const latencyChart = document.createElementNS(SVG, "svg");
  const legend = element("ul", undefined, { class: "legend" });
  const table = element("table");
  const head = element("tr");
  for (const title of ["operation", "calls/s", "errors/s", "p50", "p99", "in flight", "calls"]) head.append(element("th", title, { scope: "col" }));
  const body = element("tbody");
  table.append(element("caption", `Over the last ${WINDOW_S} s`), element("thead"), body);
  table.tHead.append(head);
  root.append(status, rateChart, latencyChart, legend, table);
  const history = [];
  let timer = null;

  const draw = () => {
    const latest = history.at(-1);
    if (!latest) return;
    const then = history.find((s) => latest.at - s.at <= WINDOW_S) ?? latest;
    const seconds = Math.max(latest.at - then.at, 1e-9);
    const rows = [...latest.ops.entries()].map(([name, now]) => {
      const before = then.ops.get(name);
      const calls = now.count - (before?.count ?? 0);
      return {
        name, now, calls,
        rate: then === latest ? 0 : calls / seconds,
        errors: then === latest ? 0 : (now.errors - (before?.errors ?? 0)) / seconds,
        p50: quantile(0.5, now, before), p99: quantile(0.99, now, before),
      };
    }).sort((a, b) => b.rate - a.rate || b.now.count - a.now.count || a.name.localeCompare(b.name));
    body.replaceChildren();
    for (const r of rows) {
      const tr = element("tr", undefined, { "data-metrics": r.name });
      tr.append(element("th", r.name, { scope: "row" }));
      for (const cell of [r.rate.toFixed(2), r.errors.toFixed(2), ms(r.p50), ms(r.p99), String(r.now.inFlight), String(r.now.count)]) tr.append(element("td", cell));
      body.append(tr);
    }
    // Calls per second between successive readings: all operations, then the busiest.
    const between = (pick) => history.slice(1).map((s, i) => {
      const a = history[i];
      return [s.at, pick(s, a) / Math.max(s.at - a.at, 1e-9)];
    });
    const count = (snap, name) => (name ? snap.ops.get(name)?.count ?? 0 : [...snap.ops.values()].reduce((n, o) => n + o.count, 0));
    const top = rows.slice(0, SERIES - 1).map((r) => r.name);
    const series = [{ name: "all operations", points: between((s, a) => count(s, null) - count(a, null)) }]
      .concat(top.map((name) => ({ name, points: between((s, a) => count(s, name) - count(a, name)) })));
    const span = Math.min(KEEP_S, Math.max(20, latest.at - history[0].at));
    chart(rateChart, "Calls per second", series, (v) => `${v.toFixed(1)}/s`, span);
    const p99 = history.slice(1).map((s, i) => {
      const all = (snap) => {
        const merged = { buckets: new Map() };
        for (const op of snap.ops.values()) for (const [le, c] of op.buckets) merged.buckets.set(le, (merged.buckets.get(le) ?? 0) + c);
        return merged;
      };
      return [s.at, quantile(0.99, all(s), all(history[i])) ?? 0];
    });
    chart(latencyChart, "p99 latency of all operations", [{ name: "p99", points: p99 }], (v) => ms(v), span);
    const over = spanText(span);
    rateChart.setAttribute("aria-label", `Calls per second over the last ${over}: ${series.map((s) => `${s.name} ${(s.points.at(-1)?.[1] ?? 0).toFixed(2)}`).join(", ")}`);
    latencyChart.setAttribute("aria-label", `p99 latency over the last ${over}: now ${ms(p99.at(-1)?.[1] ?? null)}`);
    legend.replaceChildren(...series.map((s, i) => {
      const item = element("li");
      item.append(element("span", "", { class: `swatch series-${i}`, "aria-hidden": "true" }), element("span", s.name));
      return item;
    }));
  };

  const read = async () => {
    let response;
    try {
      response = await fetch("/metrics", { headers: { authorization: `Bearer ${token()}` }, cache: "no-store" });
    } catch (error) {
      status.textContent = `Metrics unreachable: ${error.message}`;
      return;
    }
    if (!response.ok) {
      status.textContent = response.status === 401 || response.status === 403
        ? `Your token may not read this node's metrics (HTTP ${response.status}): they need its metrics scope.`
        : `This listener serves no metrics (HTTP ${response.status}): the node serves them on a listener of its own, or not at all.`;
      stop();
      return;
    }
    history.push(snapshot(await response.text()));
    while (history.length && history.at(-1).at - history[0].at > KEEP_S) history.shift();
    status.textContent = `Read ${new Date().toLocaleTimeString()}; every ${POLL_MS / 1000} s`;
    draw();
  };
  const stop = () => {
    clearInterval(timer);
    timer = null;
  };
  return {
    start() {
      if (timer) return;
      read();
      timer = setInterval(read, POLL_MS);
    },
    stop,
  };
}
