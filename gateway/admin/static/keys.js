// Keys: create (the secret shown once), edit limits, rotate and revoke database keys; config-file keys
// are listed read-only.
import { api, ApiError } from "./api.js";
import { $, fill, fmt, h, table } from "./ui.js";

let editing = null; // the name of the key being edited, or null when the form creates
const NUMBERS = ["rpm", "tpm", "max_concurrency", "monthly_tokens"];

export function setup(refresh) {
  const form = $("#key-form");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("#key-error").textContent = "";
    const body = fields(form);
    const submit = $("#key-submit");
    submit.disabled = true;
    try {
      if (editing) {
        delete body.name;
        await api("PATCH", `/keys/${encodeURIComponent(editing)}`, body);
        stopEditing();
      } else {
        // a new key: leave unset limits out rather than sending nulls
        for (const k of Object.keys(body)) if (body[k] === null) delete body[k];
        const created = await api("POST", "/keys", body);
        showSecret(created.name, created.key);
        form.reset();
      }
      await refresh();
    } catch (err) {
      $("#key-error").textContent = err instanceof ApiError ? err.message : String(err.message || err);
    } finally {
      submit.disabled = false;
    }
  });
  $("#key-cancel").addEventListener("click", stopEditing);
  $("#secret-hide").addEventListener("click", () => { $("#secret-box").hidden = true; $("#secret-value").textContent = ""; });
  $("#secret-copy").addEventListener("click", async () => {
    try { await navigator.clipboard.writeText($("#secret-value").textContent); $("#secret-copy").textContent = "Copied"; } catch { /* select it instead */ window.getSelection().selectAllChildren($("#secret-value")); }
  });
}

function fields(form) {
  const v = (n) => form.elements[n].value.trim();
  const body = { name: v("name") };
  const models = v("models").split(",").map((s) => s.trim()).filter(Boolean);
  body.models = models.length ? models : null;
  for (const n of NUMBERS) body[n] = v(n) === "" ? null : Number(v(n));
  body.budget = v("budget_usd") === "" ? null : { usd: Number(v("budget_usd")), period: v("budget_period") };
  return body;
}

function showSecret(name, secret) {
  $("#secret-box").hidden = false;
  $("#secret-box h3").textContent = `Copy the new key for ${name} now`;
  $("#secret-value").textContent = secret;
  $("#secret-copy").textContent = "Copy";
  $("#secret-box").scrollIntoView({ block: "nearest" });
}

function startEditing(k) {
  const form = $("#key-form");
  editing = k.name;
  form.elements.name.value = k.name;
  form.elements.name.disabled = true;
  form.elements.models.value = (k.models || []).join(", ");
  for (const n of NUMBERS) form.elements[n].value = k[n] ?? "";
  form.elements.budget_usd.value = k.budget ? k.budget.usd : "";
  form.elements.budget_period.value = k.budget ? k.budget.period || "month" : "month";
  $("#key-form-title").textContent = `Edit limits of ${k.name}`;
  $("#key-submit").textContent = "Save limits";
  $("#key-cancel").hidden = false;
  form.scrollIntoView({ block: "nearest" });
  form.elements.models.focus();
}

function stopEditing() {
  const form = $("#key-form");
  editing = null;
  form.reset();
  form.elements.name.disabled = false;
  $("#key-form-title").textContent = "Create a key";
  $("#key-submit").textContent = "Create key";
  $("#key-cancel").hidden = true;
  $("#key-error").textContent = "";
}

function limits(k) {
  const parts = [];
  if (k.rpm) parts.push(`${fmt.int(k.rpm)} rpm`);
  if (k.tpm) parts.push(`${fmt.int(k.tpm)} tpm`);
  if (k.max_concurrency) parts.push(`${k.max_concurrency} concurrent`);
  if (k.monthly_tokens) parts.push(`${fmt.int(k.monthly_tokens)} tok/month`);
  if (k.budget) parts.push(`${fmt.usd(k.budget.usd)}/${k.budget.period || "month"}`);
  return parts.join(" · ") || "none";
}

export async function load(refresh) {
  const { data } = await api("GET", "/keys");
  // an action's failure (say, the database is away) is shown above the table, never left unhandled
  const act = (label, cls, fn) => h("button", {
    type: "button",
    class: cls,
    onclick: async () => {
      $("#key-error").textContent = "";
      try { await fn(); } catch (err) { $("#key-error").textContent = String(err.message || err); }
    },
  }, label);
  table($("#keys-table"), [
    { label: "Name", cell: (k) => h("b", {}, k.name) },
    { label: "Status", cell: (k) => h("span", { class: `badge ${k.revoked ? "bad" : "ok"}` }, k.revoked ? "revoked" : "active") },
    { label: "Source", cell: (k) => (k.source === "config" ? "config file" : "database") },
    { label: "Key", cell: (k) => h("span", { class: "mono muted" }, k.key_hint || "–") },
    { label: "Models", cell: (k) => h("span", { class: "mono" }, (k.models || ["*"]).join(", ")) },
    { label: "Limits", cell: limits },
    { label: "Created", cell: (k) => fmt.when(k.created_at) },
    { label: "Last used", cell: (k) => fmt.when(k.last_used_at) },
    {
      label: "Actions",
      cell: (k) => (k.source !== "database" || k.revoked
        ? h("span", { class: "muted" }, k.revoked ? "" : "read-only")
        : h("div", { class: "row-actions" },
          act("Edit", "", () => startEditing(k)),
          act("Rotate", "", async () => {
            if (!confirm(`Rotate ${k.name}? The current secret stops working at once.`)) return;
            const r = await api("POST", `/keys/${encodeURIComponent(k.name)}/rotate`);
            showSecret(r.name, r.key);
            await refresh();
          }),
          act("Revoke", "danger", async () => {
            if (!confirm(`Revoke ${k.name}? Requests with it get 401 from now on.`)) return;
            await api("DELETE", `/keys/${encodeURIComponent(k.name)}`);
            await refresh();
          }))),
    },
  ], data, "No keys yet: create one above.");
  for (const row of $("#keys-table").querySelectorAll("tbody tr")) row.dataset.testid = "key-row";
}
