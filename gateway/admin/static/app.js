// The dashboard shell: sign-in, the page router (#overview, #spend, ...), live refresh and the status line.
import { api, AuthError, session, whenSignedOut } from "./api.js";
import { $ } from "./ui.js";
import * as config from "./config.js";
import * as keys from "./keys.js";
import * as overview from "./overview.js";
import * as providers from "./providers.js";
import * as spend from "./spend.js";

const PAGES = { overview, spend, providers, keys, config };
const LIVE = new Set(["overview", "providers"]); // refreshed every LIVE_MS while shown
const LIVE_MS = 5000;
let current = null;
let timer = null;

function pageName() {
  const name = location.hash.replace(/^#/, "");
  return PAGES[name] ? name : "overview";
}

async function refresh() {
  const name = current;
  if (!name || !session.key) return;
  try {
    await PAGES[name].load(refresh);
    $("#status").textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    if (!(err instanceof AuthError)) $("#status").textContent = `Could not load: ${err.message || err}`;
  }
}

function show(name) {
  current = name;
  for (const [n] of Object.entries(PAGES)) $(`#page-${n}`).hidden = n !== name;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = `${name[0].toUpperCase()}${name.slice(1)} · llm-link`;
  clearInterval(timer);
  if (LIVE.has(name)) timer = setInterval(() => { if (document.visibilityState === "visible") refresh(); }, LIVE_MS);
  return refresh();
}

function signedIn() {
  $("#login").hidden = true;
  $("#shell").hidden = false;
  show(pageName());
}

function signedOut(message = "") {
  clearInterval(timer);
  current = null;
  $("#shell").hidden = true;
  $("#login").hidden = false;
  $("#login-error").textContent = message;
  $("#admin-key").value = "";
  $("#admin-key").focus();
}

whenSignedOut((message) => signedOut(message || "Signed out: the admin key was refused."));

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const key = $("#admin-key").value.trim();
  $("#login-error").textContent = "";
  try {
    await api("GET", "/status", undefined, key);
    session.set(key);
    $("#admin-key").value = "";
    signedIn();
  } catch (err) {
    $("#login-error").textContent = err instanceof AuthError ? "That is not the admin key." : `Cannot reach the admin API: ${err.message || err}`;
  }
});

$("#logout").addEventListener("click", () => { session.clear(); signedOut(); });
window.addEventListener("hashchange", () => { if (session.key) show(pageName()); });
overview.setup(refresh);
spend.setup(refresh);
keys.setup(refresh);
config.setup();

if (session.key) signedIn();
else signedOut();
