// Providers: targets with their circuit state, in-flight requests and recent errors (GET /admin/api/providers).
import { api } from "./api.js";
import { $, fill, fmt, h, table } from "./ui.js";

const CIRCUIT = { closed: "ok", half_open: "warn", "half-open": "warn", open: "bad" };

export async function load() {
  const { data } = await api("GET", "/providers");
  fill($("#providers"), data.map((p) => {
    const open = p.targets.filter((t) => t.circuit !== "closed").length;
    const tbl = h("table", {});
    table(tbl, [
      { label: "Target", cell: (t) => h("span", { class: "mono" }, t.target) },
      { label: "Circuit", cell: (t) => h("span", { class: `badge ${CIRCUIT[t.circuit] || ""}` }, t.circuit.replace("_", "-")) },
      { label: "Failures in a row", num: true, cell: (t) => fmt.int(t.consecutive_failures) },
    ], p.targets, "No request routed here yet");
    return h("article", { class: "card", "aria-label": `provider ${p.name}` },
      h("div", { class: "provider-head" },
        h("h3", {}, p.name),
        h("span", { class: `badge ${open ? "bad" : p.recent_errors.length ? "warn" : "ok"}` }, open ? `${open} circuit${open > 1 ? "s" : ""} open` : p.recent_errors.length ? "recent errors" : "healthy")),
      h("div", { class: "kv" },
        h("span", {}, "type ", h("b", {}, p.type)),
        p.base_url ? h("span", {}, "url ", h("b", { class: "mono" }, p.base_url)) : null,
        h("span", {}, "in flight ", h("b", {}, `${p.in_flight}${p.max_concurrency ? ` / ${p.max_concurrency}` : ""}`))),
      h("div", { class: "table-wrap" }, tbl),
      p.recent_errors.length
        ? h("ul", { class: "errors", "aria-label": "recent errors" }, p.recent_errors.slice(0, 8).map((e) =>
          h("li", {}, h("span", { class: "badge bad" }, String(e.status)), " ", h("span", { class: "muted" }, fmt.when(e.time)), " ", h("span", { class: "mono" }, e.model), " — ", e.error || "")))
        : h("p", { class: "muted small" }, "No recent errors."));
  }));
}
