// Health Dashboard: /v1/health (no token needed) and /v1/metrics (scope metrics:read),
// refreshed every 2 s; the rates are over the last minute of samples.
import { call, el, svg, tokenClaims } from "./api.js";
import { initShell, whenSignedIn } from "./shell.js";

// The queue-depth SLO threshold: monitoring/alerts.yml, rule slo:pxl_queue_depth_bad:minute
// (tests/unit/test_console_static.py checks the two agree)
export const QUEUE_DEPTH_SLO = 10;
const REFRESH_MS = 2000;
const WINDOW_MS = 5 * 60 * 1000;
const RATE_WINDOW_MS = 60 * 1000;
const DASHBOARD_ROUTES = new Set(["/v1/metrics", "/v1/health", "/v1/jobs/{job_id}/events"]);
const $ = (id) => document.getElementById(id);

const depthSamples = []; // [time ms, depth | null]
const metricSamples = []; // [time ms, parsed metrics]

/** Prometheus text format -> [{name, labels, value}] (the subset /v1/metrics writes). */
export function parseMetrics(text) {
  const series = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ([^ ]+)/.exec(line);
    if (!match) continue;
    const labels = {};
    for (const pair of (match[2] || "").matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]] = pair[2];
    }
    series.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return series;
}

function sum(series, name, keep = () => true) {
  return series.filter((s) => s.name === name && keep(s.labels)).reduce((t, s) => t + s.value, 0);
}

/** Cumulative histogram buckets summed over series: Map(le -> count). */
function buckets(series, name, keep = () => true) {
  const result = new Map();
  for (const s of series) {
    if (s.name !== `${name}_bucket` || !keep(s.labels)) continue;
    const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
    result.set(le, (result.get(le) || 0) + s.value);
  }
  return result;
}

/** The q-quantile of the observations between two bucket snapshots (linear in a bucket). */
export function quantile(q, now, before) {
  const bounds = [...now.keys()].sort((a, b) => a - b);
  const counts = bounds.map((le) => now.get(le) - (before.get(le) || 0));
  const total = counts[counts.length - 1] || 0;
  if (total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (let i = 0; i < bounds.length; i += 1) {
    if (counts[i] >= rank) {
      if (bounds[i] === Infinity) return lower;
      const inBucket = counts[i] - below;
      return lower + (bounds[i] - lower) * (inBucket ? (rank - below) / inBucket : 1);
    }
    lower = bounds[i];
    below = counts[i];
  }
  return lower;
}

function seconds(value) {
  if (value === null) return "–";
  return value < 1 ? `${(value * 1000).toFixed(0)} ms` : `${value.toFixed(2)} s`;
}

function card(title, value, detail, state = "") {
  return el("div", { class: `card stat ${state}` }, el("h3", { text: title }),
    el("p", { class: "stat-value", text: value }), el("p", { class: "muted", text: detail }));
}

function drawQueue() {
  const width = 640;
  const height = 200;
  const pad = { left: 36, right: 10, top: 10, bottom: 24 };
  const now = Date.now();
  const values = depthSamples.filter(([, d]) => d !== null).map(([, d]) => d);
  const top = Math.max(QUEUE_DEPTH_SLO * 1.5, ...values, 1);
  const x = (t) => pad.left + ((t - (now - WINDOW_MS)) / WINDOW_MS) * (width - pad.left - pad.right);
  const y = (d) => height - pad.bottom - (d / top) * (height - pad.top - pad.bottom);
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "queue-chart", role: "img",
    "aria-label": `Queue depth over the last 5 minutes; now ${values.length ? values[values.length - 1] : "unknown"}` });
  for (const tick of [0, Math.round(top / 2), Math.round(top)]) {
    chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(tick), y2: y(tick), class: "grid" }),
      svg("text", { x: pad.left - 6, y: y(tick) + 4, class: "axis", "text-anchor": "end", text: String(tick) }));
  }
  chart.append(svg("text", { x: pad.left, y: height - 6, class: "axis", text: "−5 min" }),
    svg("text", { x: width - pad.right, y: height - 6, class: "axis", "text-anchor": "end", text: "now" }));
  chart.append(svg("line", { x1: pad.left, x2: width - pad.right, y1: y(QUEUE_DEPTH_SLO),
    y2: y(QUEUE_DEPTH_SLO), class: "slo" }),
  svg("text", { x: width - pad.right - 4, y: y(QUEUE_DEPTH_SLO) - 5, class: "slo-label",
    "text-anchor": "end", text: `SLO < ${QUEUE_DEPTH_SLO}` }));
  const points = depthSamples.filter(([, d]) => d !== null).map(([t, d]) => `${x(t).toFixed(1)},${y(d).toFixed(1)}`);
  if (points.length) chart.append(svg("polyline", { points: points.join(" "), class: "depth-line" }));
  $("queue-chart").replaceChildren(chart);
  const latest = depthSamples.length ? depthSamples[depthSamples.length - 1][1] : null;
  $("queue-chart").dataset.depth = latest === null ? "" : String(latest);
}

async function refreshHealth() {
  const answer = await call("/v1/health");
  const health = answer.data && typeof answer.data === "object" ? answer.data : null;
  const now = Date.now();
  depthSamples.push([now, health ? health.queue_depth : null]);
  while (depthSamples.length && depthSamples[0][0] < now - WINDOW_MS) depthSamples.shift();
  const components = $("components");
  if (!health) {
    components.replaceChildren(card("API", "unreachable", `HTTP ${answer.status}`, "bad"));
  } else {
    const workers = health.workers || [];
    components.replaceChildren(
      card("API", health.status, `version ${health.version}`,
        health.status === "healthy" ? "good" : health.status === "degraded" ? "warn" : "bad"),
      card("Redis", health.redis ? "up" : "down", "job store and broker", health.redis ? "good" : "bad"),
      el("div", { class: `card stat ${workers.length ? "good" : "bad"}`, id: "workers-card" },
        el("h3", { text: "Workers" }),
        el("p", { class: "stat-value", id: "workers-online", text: String(health.workers_online) }),
        el("ul", { class: "muted small" }, workers.slice(0, 6).map((w) =>
          el("li", { text: `${w.id}${w.host ? ` on ${w.host}` : ""}` })))),
      card("Queue depth", health.queue_depth === null ? "–" : String(health.queue_depth),
        `jobs waiting (SLO < ${QUEUE_DEPTH_SLO})`,
        health.queue_depth !== null && health.queue_depth >= QUEUE_DEPTH_SLO ? "bad" : "good"));
  }
  drawQueue();
  $("refreshed").textContent = `Refreshed ${new Date(now).toLocaleTimeString()} (every ${REFRESH_MS / 1000} s).`;
}

async function refreshMetrics() {
  const claims = tokenClaims();
  if (!claims || !(claims.scope || "").split(" ").includes("metrics:read")) {
    $("metrics-note").textContent = "Latency, errors and throughput come from /v1/metrics: "
      + "sign in with a token that has the metrics:read scope.";
    return;
  }
  const answer = await call("/v1/metrics");
  if (!answer.ok) {
    $("metrics-note").textContent = `/v1/metrics: HTTP ${answer.status}`;
    return;
  }
  const now = Date.now();
  metricSamples.push([now, parseMetrics(answer.data)]);
  while (metricSamples.length > 1 && metricSamples[0][0] < now - RATE_WINDOW_MS) metricSamples.shift();
  const [then, before] = metricSamples[0];
  const current = metricSamples[metricSamples.length - 1][1];
  const minutes = Math.max((now - then) / 60000, 1e-9);
  const apiRoute = (l) => !DASHBOARD_ROUTES.has(l.route);
  const http = (m, keep = () => true) => sum(m, "pxl_http_requests_total", (l) => apiRoute(l) && keep(l));
  const requests = http(current) - http(before);
  const errors = http(current, (l) => l.status >= "500") - http(before, (l) => l.status >= "500");
  const latNow = buckets(current, "pxl_http_request_duration_seconds", apiRoute);
  const latBefore = buckets(before, "pxl_http_request_duration_seconds", apiRoute);
  const jobsNow = buckets(current, "pxl_job_end_to_end_seconds");
  const jobsBefore = buckets(before, "pxl_job_end_to_end_seconds");
  const finished = sum(current, "pxl_jobs_finished_total") - sum(before, "pxl_jobs_finished_total");
  const failed = sum(current, "pxl_jobs_finished_total", (l) => l.status === "failed")
    - sum(before, "pxl_jobs_finished_total", (l) => l.status === "failed");
  const span = metricSamples.length > 1 ? `last ${Math.round((now - then) / 1000)} s` : "waiting for a second sample";
  $("metrics").replaceChildren(
    card("API latency P50 / P95", `${seconds(quantile(0.5, latNow, latBefore))} / ${seconds(quantile(0.95, latNow, latBefore))}`, `${requests} requests, ${span}`),
    card("Job latency P50 / P95", `${seconds(quantile(0.5, jobsNow, jobsBefore))} / ${seconds(quantile(0.95, jobsNow, jobsBefore))}`, "submission to final status"),
    card("Error rate", requests ? `${((100 * errors) / requests).toFixed(1)} %` : "–",
      `HTTP 5xx; ${failed} failed jobs`, errors ? "bad" : ""),
    card("Throughput", `${(finished / minutes).toFixed(1)} jobs/min`, `${(requests / minutes).toFixed(0)} API requests/min`));
  $("metrics-note").textContent = "From /v1/metrics (the Prometheus collectors), over the "
    + "last minute of samples; the dashboard's own requests are left out.";
}

function tick() {
  refreshHealth();
  refreshMetrics();
}

initShell();
$("slo-value").textContent = String(QUEUE_DEPTH_SLO);
tick();
setInterval(tick, REFRESH_MS);
whenSignedIn(() => refreshMetrics());
