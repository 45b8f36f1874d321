// The admin API on this origin, with the admin key from this tab's sessionStorage (never a URL, never
// another origin). A 401/403 signs the page out.
const STORE = "llm-link-admin-key";

export class AuthError extends Error {}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export const session = {
  get key() { return sessionStorage.getItem(STORE); },
  set(key) { sessionStorage.setItem(STORE, key); },
  clear() { sessionStorage.removeItem(STORE); },
};

let onSignedOut = () => {};
export function whenSignedOut(fn) { onSignedOut = fn; }

export async function api(method, path, body, key = session.key) {
  const headers = { Authorization: `Bearer ${key}` };
  const init = { method, headers, credentials: "omit", cache: "no-store", referrerPolicy: "no-referrer" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(`/admin/api${path}`, init);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (r.status === 401 || r.status === 403) {
    if (key === session.key) { session.clear(); onSignedOut(data && data.error ? data.error.message : ""); }
    throw new AuthError((data && data.error && data.error.message) || "not signed in");
  }
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}
