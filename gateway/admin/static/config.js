// Config: the running config (secrets redacted by the API) and a reload button with its result.
import { api, ApiError } from "./api.js";
import { $, fill, h } from "./ui.js";

export function setup() {
  $("#reload").addEventListener("click", async () => {
    const button = $("#reload");
    button.disabled = true;
    const out = $("#reload-result");
    try {
      const r = await api("POST", "/reload");
      const restart = (r.restart_needed || []).length ? h("p", {}, `Needs a restart to take effect: ${r.restart_needed.join(", ")}`) : null;
      fill(out, h("div", { class: "result ok" }, h("b", {}, "Reloaded. "), `Generation ${r.generation}, from ${r.source || "the built-in default"}.`, restart));
      await load();
    } catch (err) {
      if (err instanceof ApiError && err.body && err.body.error) {
        const e = err.body.error;
        fill(out, h("div", { class: "result bad" }, h("b", {}, "Refused. "), e.message, e.problems ? h("ul", {}, e.problems.map((p) => h("li", { class: "mono" }, p))) : null));
      } else {
        fill(out, h("div", { class: "result bad" }, String(err.message || err)));
      }
    } finally {
      button.disabled = false;
    }
  });
}

export async function load() {
  const cfg = await api("GET", "/config");
  $("#config-json").textContent = JSON.stringify(cfg, null, 2);
}
