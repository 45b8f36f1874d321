// Spend: cost per key over time and per key and model (GET /admin/api/usage), and each budget's use in
// its current UTC day or month.
import { api } from "./api.js";
import { $, fill, fmt, h, lineChart, PALETTE, table, tile } from "./ui.js";

const RANGES = { "24h": { hours: 24, group: "hour", step: 3600 }, "7d": { hours: 168, group: "day", step: 86400 }, "30d": { hours: 720, group: "day", step: 86400 } };
let range = "24h";
let split = "key";

export function setup(refresh) {
  for (const b of document.querySelectorAll("#page-spend [data-range]")) {
    b.addEventListener("click", () => {
      range = b.dataset.range;
      for (const o of document.querySelectorAll("#page-spend [data-range]")) o.setAttribute("aria-pressed", String(o === b));
      refresh();
    });
  }
  for (const b of document.querySelectorAll("#page-spend [data-split]")) {
    b.addEventListener("click", () => {
      split = b.dataset.split;
      for (const o of document.querySelectorAll("#page-spend [data-split]")) o.setAttribute("aria-pressed", String(o === b));
      refresh();
    });
  }
}

const bucketTime = (label) => Date.parse(label.length === 10 ? `${label}T00:00:00Z` : label.replace(/Z$/, ":00Z")) / 1000;

export async function load() {
  const r = RANGES[range];
  const now = Date.now();
  const startMs = r.group === "hour" ? Math.floor(now / 3600e3) * 3600e3 - (r.hours - 1) * 3600e3 : Date.UTC(new Date(now).getUTCFullYear(), new Date(now).getUTCMonth(), new Date(now).getUTCDate()) - (r.hours / 24 - 1) * 86400e3;
  const from = new Date(startMs).toISOString();
  const d = new Date(now);
  const dayStart = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())).toISOString();
  const monthStart = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)).toISOString();
  const q = (p) => api("GET", `/usage?${new URLSearchParams(p)}`);
  const [overTime, byKeyModel, keys, today, month] = await Promise.all([
    q({ from, group_by: `${split},${r.group}` }),
    q({ from, group_by: "key,model" }),
    api("GET", "/keys?revoked=false"),
    q({ from: dayStart, group_by: "key" }),
    q({ from: monthStart, group_by: "key" }),
  ]);

  // chart: one bar stack per bucket over the range, a layer per key or model (empty buckets are $0)
  $("#spend-caption").textContent = `Cost per ${split} (USD)`;
  const x = [];
  for (let t = startMs / 1000; t <= now / 1000; t += r.step) x.push(t);
  const perKey = new Map();
  for (const row of overTime.data) {
    const k = row[split] || `(no ${split})`;
    if (!perKey.has(k)) perKey.set(k, new Map());
    perKey.get(k).set(bucketTime(row[r.group]), row.cost_usd);
  }
  const series = [...perKey.entries()]
    .sort((a, b) => sum(b[1]) - sum(a[1]))
    .slice(0, 10)
    .map(([k, m], i) => ({ label: k, values: x.map((t) => m.get(t) || 0), color: PALETTE[i % PALETTE.length] }));
  lineChart($("#chart-spend"), x, series, { yFmt: (v) => fmt.usd(v), stacked: true });

  const total = byKeyModel.data.reduce((a, row) => a + row.cost_usd, 0);
  const tokens = byKeyModel.data.reduce((a, row) => a + row.input_tokens + row.output_tokens, 0);
  const requests = byKeyModel.data.reduce((a, row) => a + row.requests, 0);
  fill($("#spend-tiles"),
    tile("Spend", fmt.usd(total), `last ${range}`),
    tile("Requests", fmt.int(requests), `last ${range}`),
    tile("Tokens", fmt.int(tokens), "input + output"),
    tile("Cost / 1k requests", requests ? fmt.usd((total / requests) * 1000) : "–"));

  table($("#spend-table"), [
    { label: "Key", cell: (row) => row.key || "(no key)" },
    { label: "Model", cell: (row) => h("span", { class: "mono" }, row.model || "–") },
    { label: "Requests", num: true, cell: (row) => fmt.int(row.requests) },
    { label: "Input tok", num: true, cell: (row) => fmt.int(row.input_tokens) },
    { label: "Output tok", num: true, cell: (row) => fmt.int(row.output_tokens) },
    { label: "Cost", num: true, cell: (row) => fmt.usd(row.cost_usd) },
  ], [...byKeyModel.data].sort((a, b) => b.cost_usd - a.cost_usd), "No usage in this period");

  const spent = { day: index(today.data), month: index(month.data) };
  const budgeted = keys.data.filter((k) => k.budget && !k.revoked);
  fill($("#budgets"), budgeted.length ? budgeted.map((k) => {
    const period = k.budget.period || "month";
    const used = spent[period].get(k.name) || 0;
    const share = k.budget.usd > 0 ? used / k.budget.usd : 1;
    const level = share >= 1 ? "bad" : share >= 0.8 ? "warn" : "";
    return h("div", { class: "budget" },
      h("div", { class: "head" }, h("b", {}, k.name), h("span", { class: "muted" }, `${fmt.usd(used)} of ${fmt.usd(k.budget.usd)} this ${period}`)),
      h("div", { class: `bar ${level}`, role: "progressbar", "aria-label": `${k.name} budget used`, "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(Math.min(1, share) * 100)) },
        barFill(Math.min(1, share))));
  }) : h("p", { class: "muted" }, "No key has a budget. Set one on the Keys page."));
}

function sum(m) { let s = 0; for (const v of m.values()) s += v; return s; }
function index(rows) { return new Map(rows.map((row) => [row.key, row.cost_usd])); }
function barFill(share) {
  const span = h("span", {});
  span.style.width = `${(share * 100).toFixed(1)}%`; // CSSOM, allowed by the page's style-src 'self'
  return span;
}
