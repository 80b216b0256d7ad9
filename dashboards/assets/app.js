// The dashboard shell: hash routes (#/overview, #/drill?channel=web, ...),
// the time-range picker, live refresh (every REFRESH_MS while the tab is
// visible) and the API token form. Each page module exports
// mount(root, ctx) -> {refresh(), destroy(), live}.

import * as api from "./api.js";
import { fill, errorBox } from "./dom.js";
import * as overview from "./overview.js";
import * as drill from "./drill.js";
import * as sql from "./sql.js";
import * as rejected from "./rejected.js";
import * as runbooks from "./runbooks.js";

const PAGES = { overview, drill, sql, rejected, runbooks };
const REFRESH_MS = 7000;

const $ = (id) => document.getElementById(id);
const root = $("page");
const status = $("status");

let current = null;
let busy = false;
let range = { start: "now-1h", end: "now" };

/** The route: page name and its parameters. */
function route() {
  const hash = location.hash.replace(/^#\/?/, "");
  const [name, query] = hash.split("?");
  const params = Object.fromEntries(new URLSearchParams(query || ""));
  return { name: PAGES[name] ? name : "overview", params };
}

/** Navigates to a page with parameters (values left out when empty). */
export function go(name, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  location.hash = "#/" + name + (s ? "?" + s : "");
}

const ctx = {
  range: () => ({ ...range }),
  go,
  setStatus(text) {
    status.textContent = text;
  },
};

async function refresh() {
  if (!current || busy) return;
  busy = true;
  try {
    await current.refresh();
    status.textContent = "updated " + new Date().toLocaleTimeString();
    status.classList.remove("bad");
  } catch (err) {
    status.textContent = err.status === 401 ? "needs the API token" : "refresh failed";
    status.classList.add("bad");
    if (err.status !== 401) console.warn(err);
  } finally {
    busy = false;
  }
}

function show() {
  const { name, params } = route();
  // #/page?range=15m picks a preset (links and tests can share a view).
  if (params.range && [...preset.options].some((o) => o.value === params.range && o.value !== "custom")) {
    preset.value = params.range;
    custom.hidden = true;
    range = { start: "now-" + params.range, end: "now" };
  }
  for (const a of document.querySelectorAll("#nav a")) {
    a.classList.toggle("active", a.dataset.page === name);
  }
  if (current) current.destroy();
  fill(root);
  try {
    current = PAGES[name].mount(root, { ...ctx, params });
  } catch (err) {
    current = null;
    fill(root, errorBox(err));
    return;
  }
  refresh();
}

// Time range.
const preset = $("range-preset");
const custom = $("range-custom");
function toLocalInput(d) {
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}
preset.addEventListener("change", () => {
  if (preset.value === "custom") {
    custom.hidden = false;
    const now = new Date();
    $("range-end").value = toLocalInput(now);
    $("range-start").value = toLocalInput(new Date(now - 3600e3));
    return;
  }
  custom.hidden = true;
  range = { start: "now-" + preset.value, end: "now" };
  refresh();
});
$("range-apply").addEventListener("click", () => {
  const s = new Date($("range-start").value);
  const e = new Date($("range-end").value);
  if (Number.isNaN(s.getTime()) || Number.isNaN(e.getTime()) || s >= e) {
    status.textContent = "pick a start before the end";
    status.classList.add("bad");
    return;
  }
  range = { start: s.toISOString(), end: e.toISOString() };
  refresh();
});

// Live refresh, paused while the tab is hidden.
const live = $("live");
setInterval(() => {
  if (live.checked && !document.hidden && current && current.live) refresh();
}, REFRESH_MS);
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && live.checked && current && current.live) refresh();
});

// The API token.
const form = $("token-form");
$("token-button").addEventListener("click", () => {
  form.hidden = !form.hidden;
});
api.whenUnauthorized(() => {
  form.hidden = false;
});
form.addEventListener("submit", (e) => {
  e.preventDefault();
  api.setToken($("token-input").value.trim());
  $("token-input").value = "";
  form.hidden = true;
  show();
});
$("token-forget").addEventListener("click", () => {
  api.setToken("");
  form.hidden = true;
});

window.addEventListener("hashchange", show);
window.addEventListener("resize", () => current && current.resize && current.resize());
show();
