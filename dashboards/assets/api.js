// Calls to /api/*: the bearer token (pasted once, kept in localStorage)
// and errors as exceptions carrying the server's {"error": ...} text.

const KEY = "orderpulse.token";

export function token() {
  try {
    return localStorage.getItem(KEY) || "";
  } catch {
    return "";
  }
}

export function setToken(value) {
  try {
    if (value) localStorage.setItem(KEY, value);
    else localStorage.removeItem(KEY);
  } catch {
    // Storage disabled: the token lasts until the page is closed.
  }
  memory = value;
}

let memory = "";
let onUnauthorized = () => {};

/** Called with no arguments when the server answers 401. */
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function headers(extra = {}) {
  const h = { ...extra };
  const t = token() || memory;
  if (t) h.Authorization = "Bearer " + t;
  return h;
}

/** A URL under /api with query parameters (empty values left out). */
export function url(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.append(k, v);
  }
  const s = q.toString();
  return s ? path + "?" + s : path;
}

async function check(response) {
  if (response.ok) return response;
  let message = response.status + " " + response.statusText;
  try {
    const body = await response.json();
    if (body && body.error) message = body.error;
  } catch {
    // Not JSON: keep the status line.
  }
  if (response.status === 401) onUnauthorized();
  throw new ApiError(response.status, message);
}

export async function getJson(path, params = {}) {
  const r = await fetch(url(path, params), { headers: headers(), cache: "no-store" });
  return (await check(r)).json();
}

export async function postSql(sql, format = "json") {
  const r = await fetch(url("/api/sql", { format: format === "json" ? "" : format }), {
    method: "POST",
    headers: headers({ "Content-Type": "application/json" }),
    body: JSON.stringify({ sql }),
  });
  await check(r);
  return format === "json" ? r.json() : r.blob();
}

/** GET returning a Blob (CSV downloads). */
export async function getBlob(path, params = {}) {
  const r = await fetch(url(path, params), { headers: headers() });
  return (await check(r)).blob();
}
