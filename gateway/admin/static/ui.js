// Small DOM, formatting and chart helpers shared by the pages. Text always goes in as textContent.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export const $ = (sel) => document.querySelector(sel);

export function fill(el, ...children) { el.replaceChildren(...children.flat().filter((c) => c != null)); }

export const fmt = {
  int: (n) => (n == null ? "–" : Math.round(n).toLocaleString("en-US")),
  num: (n, d = 2) => (n == null ? "–" : Number(n).toLocaleString("en-US", { maximumFractionDigits: d })),
  ms: (n) => (n == null ? "–" : n >= 1000 ? `${(n / 1000).toFixed(n >= 10000 ? 0 : 1)} s` : n >= 10 ? `${Math.round(n)} ms` : `${Number(n.toFixed(n >= 1 ? 1 : 2))} ms`),
  pct: (r) => (r == null ? "–" : `${(r * 100).toFixed(r && r < 0.01 ? 2 : 1)}%`),
  usd: (n) => (n == null ? "–" : n === 0 ? "$0" : n < 0.01 ? `$${n.toPrecision(2)}` : `$${n.toFixed(2)}`),
  when: (iso) => (iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "–"),
};

export function table(el, columns, rows, empty = "Nothing yet") {
  const head = h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : null, scope: "col" }, c.label))));
  const body = h("tbody", {});
  if (!rows.length) body.append(h("tr", { class: "empty-row" }, h("td", { colspan: columns.length }, empty)));
  for (const row of rows) {
    body.append(h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : null }, c.cell(row)))));
  }
  fill(el, head, body);
}

export function tile(label, value, sub) {
  return h("div", { class: "tile" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), sub ? h("div", { class: "sub" }, sub) : null);
}

export const PALETTE = ["#4f46e5", "#0ea5e9", "#10b981", "#f59e0b", "#ef4444", "#8b5cf6", "#ec4899", "#14b8a6", "#84cc16", "#64748b", "#f97316", "#06b6d4", "#a3a3a3"];

// A uPlot line chart that keeps its instance while the series stay the same (live updates only swap the
// data), and follows its container's width.
const charts = new Map();
const observer = new ResizeObserver((entries) => {
  for (const e of entries) {
    const c = charts.get(e.target);
    if (c && c.plot) c.plot.setSize(size(e.target));
  }
});

function size(el) { return { width: Math.max(240, el.clientWidth), height: 220 }; }

export function lineChart(el, x, series, { unit = "", yFmt = (v) => v, stacked = false } = {}) {
  const hasData = series.some((s) => s.values.some((v) => v != null && v !== 0));
  let entry = charts.get(el);
  if (!entry) { entry = { sig: null, plot: null }; charts.set(el, entry); observer.observe(el); }
  if (!hasData) {
    if (entry.plot) { entry.plot.destroy(); entry.plot = null; entry.sig = null; }
    fill(el, h("div", { class: "empty" }, "No requests in this window yet"));
    el.dataset.points = "0";
    return;
  }
  if (stacked) {
    // stacked bars: each series drawn at its running total, the tallest first so the ones below show
    const acc = x.map(() => 0);
    series = series.map((s) => ({ ...s, raw: s.values, values: s.values.map((v, j) => (acc[j] += v || 0)) })).reverse();
  }
  const data = [x, ...series.map((s) => s.values)];
  // for screen readers: what the chart shows, with each series' latest value
  el.setAttribute("role", "img");
  el.setAttribute("aria-label", series.map((s) => {
    const vals = (s.raw || s.values).filter((v) => v != null);
    return `${s.label}: latest ${vals.length ? yFmt(vals[vals.length - 1]) : "none"}`;
  }).join("; "));
  const sig = series.map((s) => s.label).join("\u0000") + unit;
  el.dataset.points = String(series.reduce((n, s) => n + s.values.filter((v) => v != null).length, 0));
  if (entry.plot && entry.sig === sig) { entry.plot.setData(data); return; }
  if (entry.plot) entry.plot.destroy();
  fill(el);
  const paths = stacked ? uPlot.paths.bars({ size: [0.7, 48], align: 0 }) : undefined;
  const opts = {
    ...size(el),
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
    axes: [
      { stroke: "#5b6478", grid: { stroke: "#eef0f4" }, ticks: { stroke: "#e3e6ee" } },
      { stroke: "#5b6478", grid: { stroke: "#eef0f4" }, ticks: { stroke: "#e3e6ee" }, size: 60, values: (u, vals) => vals.map((v) => yFmt(v)) },
    ],
    series: [
      {},
      ...series.map((s, i) => ({
        label: s.label,
        stroke: s.color || PALETTE[i % PALETTE.length],
        width: s.width || 2,
        dash: s.dash,
        fill: stacked ? s.color || PALETTE[i % PALETTE.length] : s.fill,
        paths,
        // isolated minutes (sparse traffic) are drawn as dots; busy series as lines only
        points: { size: 5, show: !stacked && s.values.filter((v) => v != null).length < 20 },
        spanGaps: s.spanGaps || false,
        value: (u, v, si, idx) => {
          const shown = s.raw && idx != null ? s.raw[idx] : v;
          return shown == null ? "–" : yFmt(shown);
        },
      })),
    ],
  };
  entry.plot = new uPlot(opts, data, el);
  entry.sig = sig;
}
