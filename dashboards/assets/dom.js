// Small DOM helpers. Every value from the server becomes text
// (textContent / text nodes), never HTML.

/** An element: el("td", {class: "num"}, "12", child...). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "style") throw new Error("set styles through element.style");
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces the children of `node`. */
export function fill(node, ...children) {
  while (node.firstChild) node.removeChild(node.firstChild);
  append(node, children);
  return node;
}

/** A failure rate (0..1) as a percentage. */
export function pct(rate, digits = 2) {
  if (rate === null || rate === undefined || Number.isNaN(rate)) return "–";
  return (rate * 100).toFixed(digits) + "%";
}

/** A change of a rate, in percentage points with a sign. */
export function points(change) {
  if (change === null || change === undefined) return "";
  const p = change * 100;
  const sign = p > 0 ? "+" : p < 0 ? "−" : "±";
  return sign + Math.abs(p).toFixed(2) + " pp";
}

export function int(n) {
  return n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US");
}

/** "(none)" for a missing value. */
export function label(v) {
  return v === null || v === undefined || v === "" ? "(none)" : String(v);
}

/** A class for a change: up (worse), down (better) or flat. */
export function trendClass(change) {
  if (change > 0.0005) return "up";
  if (change < -0.0005) return "down";
  return "flat";
}

/** A section with a heading; returns [section, body]. */
export function card(title, cls = "") {
  const body = el("div", { class: "card-body" });
  const section = el("section", { class: "card " + cls }, el("h2", { text: title }), body);
  return [section, body];
}

/** An error box. */
export function errorBox(err) {
  return el("div", { class: "error", role: "alert", text: String(err && err.message ? err.message : err) });
}

/** A table from column names and rows of values (all rendered as text). */
export function table(columns, rows, { onRow, cellClass } = {}) {
  const head = el("tr", {}, columns.map((c) => el("th", { text: c })));
  const body = rows.map((row, i) =>
    el(
      "tr",
      { class: onRow ? "clickable" : "", onclick: onRow ? () => onRow(row, i) : undefined },
      row.map((v, j) =>
        el("td", { class: cellClass ? cellClass(j, v) : typeof v === "number" ? "num" : "", text: v === null ? "NULL" : typeof v === "object" ? JSON.stringify(v) : String(v) }),
      ),
    ),
  );
  return el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head), el("tbody", {}, body)));
}
