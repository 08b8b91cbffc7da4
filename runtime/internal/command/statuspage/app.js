// The Kappa status page: reads /status and /windows every second and
// draws them. It keeps what it last drew in data attributes of <body>
// (data-status: the /status it rendered; data-windows-drawn: how many
// windows the aggregate chart drew), for tests and the curious. In a
// consumer group it shows the group, and marks each partition's row with
// data-owned ("true" when this runtime reads it, "false" when another
// member does); outside a group it shows neither.
"use strict";

const refreshMs = 1000;
const ratePoints = 120;
const rate = { t: [], v: [] };
let prev = null; // {t, committed}: the last /status, for the rate

const $ = (id) => document.getElementById(id);
const fmt = new Intl.NumberFormat("en-US");

function duration(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  if (d) return `${d}d ${h}h ${m}m`;
  if (h) return `${h}h ${m}m ${s % 60}s`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

function ago(iso) {
  if (!iso) return "never";
  const s = (Date.now() - Date.parse(iso)) / 1000;
  return s < 1 ? "just now" : `${duration(s)} ago`;
}

function chart(el, label, stroke, fill, bars) {
  const opts = {
    width: el.clientWidth || 500,
    height: 240,
    legend: { live: true },
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
    axes: [{ stroke: "#6b7280", grid: { stroke: "#eef0f3" } }, { stroke: "#6b7280", grid: { stroke: "#eef0f3" }, size: 70 }],
    series: [{}, { label, stroke, fill, width: 2, points: { show: false },
      paths: bars ? uPlot.paths.bars({ size: [0.8, 40] }) : undefined,
      value: (u, v) => (v == null ? "–" : fmt.format(Math.round(v))) }],
  };
  if (bars) opts.hooks = { draw: [(u) => { document.body.dataset.windowsDrawn = String(u.data[0].length); }] };
  const u = new uPlot(opts, [[], []], el);
  new ResizeObserver(() => u.setSize({ width: el.clientWidth, height: 240 })).observe(el);
  return u;
}

const rateChart = chart($("rate-chart"), "records/s", "#2563eb", "rgba(37,99,235,0.12)", false);
const windowsChart = chart($("windows-chart"), "count", "#0f766e", "rgba(15,118,110,0.55)", true);

function renderStatus(s) {
  $("pipeline").textContent = s.pipeline;
  document.title = `${s.pipeline} · Kappa status`;
  $("state").textContent = s.state;
  $("role").textContent = s.role;
  $("ready").textContent = s.ready ? "yes" : "no";
  $("ready").className = s.ready ? "ok" : "bad";
  $("uptime").textContent = duration(s.uptime_seconds);
  $("version").textContent = s.version;
  $("last-commit").textContent = ago(s.last_commit_time);
  const problem = s.not_ready || (s.last_error ? `last error: ${s.last_error}` : "");
  $("problem").hidden = !problem;
  $("problem").textContent = problem;
  const grouped = Boolean(s.group);
  document.querySelectorAll(".group-only").forEach((el) => { el.hidden = !grouped; });
  $("group").textContent = s.group || "";
  $("owned").textContent = grouped ? ((s.owned_partitions || []).join(", ") || "none") : "";

  const body = document.querySelector("#partitions tbody");
  body.replaceChildren(...s.partitions.map((p) => {
    const tr = document.createElement("tr");
    tr.dataset.partition = p.partition;
    const cells = [p.partition, fmt.format(p.committed), fmt.format(p.high_watermark), fmt.format(p.lag_records),
      p.lag_seconds.toFixed(1), ago(p.last_commit_time)];
    const names = ["partition", "committed", "high-watermark", "lag-records", "lag-seconds", "last-commit"];
    cells.forEach((c, i) => {
      const td = document.createElement("td");
      td.textContent = c;
      td.dataset.field = names[i];
      if ((i === 3 || i === 4) && Number(p.lag_records) > 0 && p.lag_seconds > 10) td.className = "lagging";
      tr.append(td);
    });
    if (grouped) {
      tr.dataset.owned = String(Boolean(p.owned));
      tr.className = p.owned ? "owned" : "elsewhere";
      const td = document.createElement("td");
      td.textContent = p.owned ? "this runtime" : "another member";
      td.dataset.field = "owned";
      tr.append(td);
    }
    return tr;
  }));

  const now = Date.now() / 1000;
  const committed = s.partitions.reduce((a, p) => a + p.committed, 0);
  if (prev && now > prev.t) {
    rate.t.push(now);
    rate.v.push(Math.max(0, (committed - prev.committed) / (now - prev.t)));
    if (rate.t.length > ratePoints) { rate.t.shift(); rate.v.shift(); }
    rateChart.setData([rate.t, rate.v]);
  }
  prev = { t: now, committed };
  document.body.dataset.status = JSON.stringify(s);
}

function renderWindows(w) {
  $("windows-note").textContent = w.error ? `(${w.error})` : "";
  windowsChart.setData([w.windows.map((x) => Date.parse(x.window) / 1000), w.windows.map((x) => x.count)]);
  document.body.dataset.windows = JSON.stringify(w.windows);
}

async function refresh() {
  try {
    const [s, w] = await Promise.all([
      fetch("status", { cache: "no-store" }).then((r) => r.json()),
      fetch("windows", { cache: "no-store" }).then((r) => r.json()),
    ]);
    renderStatus(s);
    renderWindows(w);
    $("refreshed").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (e) {
    $("refreshed").textContent = `cannot reach the runtime: ${e}`;
  }
  setTimeout(refresh, refreshMs);
}

refresh();
