// SQL console: an editor, the saved queries with their parameters
// (GET /api/queries), a results table, a chart when the result has a time
// column and numbers, CSV download, and the server's error text.

import { el, fill, card, errorBox, table, int } from "./dom.js";
import { getJson, getBlob, postSql } from "./api.js";
import { timeChart } from "./charts.js";

const EXAMPLE = `SELECT failure_cause, count(*) AS failures
FROM order_attempts
WHERE outcome = 'failure' AND ts > now() - INTERVAL '1 hour'
GROUP BY failure_cause
ORDER BY failures DESC`;

const NUMERIC = /^(U?Int|Float|Decimal)/;

export function mount(root, ctx) {
  let queries = [];
  const picker = el("select", { id: "saved-query", "aria-label": "saved query" }, el("option", { value: "", text: "your SQL" }));
  const about = el("p", { class: "muted" });
  const params = el("div", { class: "params" });
  const editor = el("textarea", { id: "sql-editor", rows: 9, spellcheck: "false", "aria-label": "SQL" });
  editor.value = sessionStorage.getItem("orderpulse.sql") || EXAMPLE;
  const runButton = el("button", { type: "button", id: "sql-run", class: "primary", text: "Run (Ctrl+Enter)" });
  const csvButton = el("button", { type: "button", id: "sql-csv", text: "Download CSV" });
  const info = el("span", { class: "muted", id: "sql-info" });
  const errors = el("div", { id: "sql-error" });
  const [resultCard, resultBox] = card("Result", "wide");
  const [chartCard, chartBox] = card("Chart", "wide");
  chartCard.hidden = true;
  const chartInner = el("div", { class: "chart" });
  chartBox.appendChild(chartInner);
  const chart = timeChart(chartInner);

  fill(
    root,
    el(
      "section",
      { class: "card wide console" },
      el("div", { class: "row" }, el("label", {}, "Saved query ", picker), about),
      params,
      editor,
      el("div", { class: "row" }, runButton, csvButton, info),
      errors,
    ),
    chartCard,
    resultCard,
  );

  function selected() {
    return queries.find((q) => q.name === picker.value) || null;
  }

  function paramValues() {
    const out = {};
    for (const input of params.querySelectorAll("input")) if (input.value.trim()) out[input.name] = input.value.trim();
    return out;
  }

  picker.addEventListener("change", () => {
    const q = selected();
    editor.disabled = !!q;
    fill(params);
    if (!q) {
      fill(about);
      return;
    }
    fill(about, q.purpose);
    fill(
      params,
      q.params.map((p) =>
        el("label", { title: p.description }, `${p.name} (${p.type}) `, el("input", { name: p.name, value: p.default, size: 22 })),
      ),
    );
  });

  editor.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter") {
      e.preventDefault();
      run();
    }
  });
  runButton.addEventListener("click", () => run());
  csvButton.addEventListener("click", () => download());

  async function run() {
    fill(errors);
    fill(info, "running…");
    const started = performance.now();
    try {
      const q = selected();
      let result;
      if (q) {
        result = await getJson("/api/queries/" + encodeURIComponent(q.name), paramValues());
      } else {
        sessionStorage.setItem("orderpulse.sql", editor.value);
        result = await postSql(editor.value);
      }
      const ms = Math.round(performance.now() - started);
      fill(info, `${int(result.rows.length)} rows in ${ms} ms`);
      show(result);
    } catch (err) {
      fill(info);
      fill(errors, errorBox(err));
    }
  }

  async function download() {
    fill(errors);
    try {
      const q = selected();
      const blob = q
        ? await getBlob("/api/queries/" + encodeURIComponent(q.name), { ...paramValues(), format: "csv" })
        : await postSql(editor.value, "csv");
      const a = el("a", { href: URL.createObjectURL(blob), download: (q ? q.name : "result") + ".csv" });
      document.body.appendChild(a);
      a.click();
      setTimeout(() => {
        URL.revokeObjectURL(a.href);
        a.remove();
      }, 1000);
    } catch (err) {
      fill(errors, errorBox(err));
    }
  }

  function show(result) {
    fill(resultBox, result.rows.length ? table(result.columns, result.rows) : el("p", { class: "muted", text: "no rows" }));
    const spec = chartSpec(result);
    chartCard.hidden = !spec;
    if (spec) chart.update(spec);
  }

  async function refresh() {
    if (queries.length) return;
    const data = await getJson("/api/queries");
    queries = data.queries;
    for (const q of queries) picker.appendChild(el("option", { value: q.name, text: q.name }));
  }

  return { refresh, live: false, resize: () => chart.resize(), destroy: () => chart.destroy() };
}

/** A chart of a result with a time column and numbers, or null. */
function chartSpec(result) {
  const types = result.types || [];
  const time = types.findIndex((t) => t.startsWith("Timestamp") || t.startsWith("Date"));
  const nums = types.map((t, i) => (NUMERIC.test(t) ? i : -1)).filter((i) => i >= 0);
  if (time < 0 || !nums.length || !result.rows.length) return null;
  const texts = types.map((t, i) => (t === "Utf8" || t === "LargeUtf8" || t === "Utf8View" ? i : -1)).filter((i) => i >= 0);
  const secs = (v) => Date.parse(v) / 1000;
  const times = [...new Set(result.rows.map((r) => secs(r[time])))].filter((t) => !Number.isNaN(t)).sort((a, b) => a - b);
  if (!times.length || times.length > 5000) return null;
  const at = new Map(times.map((t, i) => [t, i]));
  let series;
  if (texts.length) {
    // Pivot: one series per value of the first text column, of the last number.
    const key = texts[0];
    const num = nums[nums.length - 1];
    const groups = new Map();
    for (const r of result.rows) {
      const name = String(r[key]);
      if (!groups.has(name)) groups.set(name, new Array(times.length).fill(null));
      groups.get(name)[at.get(secs(r[time]))] = r[num];
    }
    if (groups.size > 20) return null;
    series = [...groups].map(([name, values]) => ({ label: `${name} ${result.columns[num]}`, values }));
  } else {
    series = nums.map((n) => {
      const values = new Array(times.length).fill(null);
      for (const r of result.rows) values[at.get(secs(r[time]))] = r[n];
      return { label: result.columns[n], values };
    });
  }
  return { times, series, stacked: false, percent: false };
}

