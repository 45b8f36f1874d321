// Overview: the last hour per minute, from GET /admin/api/series; refreshed every few seconds.
import { api } from "./api.js";
import { $, fill, fmt, h, lineChart, PALETTE, table, tile } from "./ui.js";

let by = "model";
const MAX_LINES = 6;

export function setup(refresh) {
  for (const b of document.querySelectorAll("#page-overview [data-by]")) {
    b.addEventListener("click", () => {
      by = b.dataset.by;
      for (const o of document.querySelectorAll("#page-overview [data-by]")) o.setAttribute("aria-pressed", String(o === b));
      refresh();
    });
  }
}

let database = null; // the store's kind from /status, asked once: without one there is nothing to chart

export async function load() {
  if (database === null) database = (await api("GET", "/status")).database || "";
  $("#overview-charts").hidden = $("#overview-table-card").hidden = $("#tiles").hidden = !database;
  if (!database) {
    const note = $("#overview-note");
    note.hidden = false;
    note.textContent = "Charts are drawn from the usage rows in the database: set state.database_url (sqlite:///… is enough) to see them.";
    return;
  }
  const s = await api("GET", `/series?minutes=60&step=60&by=${by}`);
  $("#overview-note").hidden = true;
  const t = s.total.summary;
  const recent = s.total.requests.slice(-5).reduce((a, b) => a + b, 0) / (5 * s.step);
  fill(
    $("#tiles"),
    tile("Requests / s", fmt.num(recent, 2), "last 5 minutes"),
    tile("Requests", fmt.int(t.requests), "last hour"),
    tile("Error rate", fmt.pct(t.error_rate), `${fmt.int(t.errors)} errors`),
    tile("Latency p50 / p95", `${fmt.ms(t.p50_ms)} / ${fmt.ms(t.p95_ms)}`),
    tile("First token p50 / p95", `${fmt.ms(t.ttft_p50_ms)} / ${fmt.ms(t.ttft_p95_ms)}`, "streams"),
    tile("Spend", fmt.usd(t.cost_usd), "last hour"),
  );

  const x = s.buckets.map((b) => b + s.step); // a point at the end of its minute
  const groups = s.series.slice(0, MAX_LINES);
  const color = (i) => PALETTE[i % PALETTE.length];
  const rps = groups.map((g, i) => ({ label: g.name, values: g.requests_per_s, color: color(i) }));
  if (groups.length > 1) rps.push({ label: "total", values: s.total.requests_per_s, color: "#94a3b8", dash: [4, 4], width: 1.5 });
  lineChart($("#chart-rps"), x, rps, { yFmt: (v) => fmt.num(v, 2) });
  lineChart($("#chart-errors"), x, groups.map((g, i) => ({ label: g.name, values: g.error_rate, color: color(i) })), { yFmt: (v) => fmt.pct(v) });
  const pair = (p50, p95) => groups.flatMap((g, i) => [
    { label: `${g.name} p50`, values: g[p50], color: color(i), spanGaps: true },
    { label: `${g.name} p95`, values: g[p95], color: `${color(i)}99`, dash: [5, 4], width: 1.5, spanGaps: true },
  ]);
  lineChart($("#chart-latency"), x, pair("p50_ms", "p95_ms"), { yFmt: (v) => fmt.ms(v) });
  lineChart($("#chart-ttft"), x, pair("ttft_p50_ms", "ttft_p95_ms"), { yFmt: (v) => fmt.ms(v) });

  table($("#overview-table"), [
    { label: by === "model" ? "Model" : "Provider", cell: (g) => h("span", { class: "mono" }, g.name) },
    { label: "Requests", num: true, cell: (g) => fmt.int(g.summary.requests) },
    { label: "Req/s", num: true, cell: (g) => fmt.num(g.summary.requests / (s.buckets.length * s.step), 3) },
    { label: "Errors", num: true, cell: (g) => h("span", { class: g.summary.errors ? "badge bad" : "badge ok" }, fmt.pct(g.summary.error_rate)) },
    { label: "p50", num: true, cell: (g) => fmt.ms(g.summary.p50_ms) },
    { label: "p95", num: true, cell: (g) => fmt.ms(g.summary.p95_ms) },
    { label: "TTFT p50", num: true, cell: (g) => fmt.ms(g.summary.ttft_p50_ms) },
    { label: "TTFT p95", num: true, cell: (g) => fmt.ms(g.summary.ttft_p95_ms) },
    { label: "Cost", num: true, cell: (g) => fmt.usd(g.summary.cost_usd) },
  ], s.series, "No requests in the last hour");
}
