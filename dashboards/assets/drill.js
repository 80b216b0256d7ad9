// Drill-down: filters (cause, channel, payment method, region, app
// version) in the URL, the slice's trend, "what changed" against the
// previous period (or a chosen one) ranked by contribution, and the newest
// failed attempts of the slice.

import { el, fill, card, pct, points, int, label, trendClass, errorBox, table } from "./dom.js";
import { getJson } from "./api.js";
import { timeChart } from "./charts.js";

const DIMENSIONS = [
  ["failure_cause", "Cause"],
  ["channel", "Channel"],
  ["payment_method", "Payment method"],
  ["region", "Region"],
  ["app_version", "App version"],
];

export function mount(root, ctx) {
  const filters = {};
  for (const [d] of DIMENSIONS) if (ctx.params[d]) filters[d] = ctx.params[d];
  const base = { base_start: ctx.params.base_start || "", base_end: ctx.params.base_end || "" };
  const known = {};

  const filterBar = el("form", { class: "filters", onsubmit: (e) => e.preventDefault() });
  const errors = el("div");
  const summary = el("div", { class: "stats" });
  const [trendCard, trendBox] = card("Failure rate of this slice", "wide");
  const chartBox = el("div", { class: "chart" });
  trendBox.appendChild(chartBox);
  const [changedCard, changedBox] = card("What changed (vs the comparison period, by contribution)", "wide");
  const [samplesCard, samplesBox] = card("Newest failed attempts", "wide");
  fill(root, filterBar, errors, summary, el("div", { class: "grid" }, trendCard, changedCard, samplesCard));
  const chart = timeChart(chartBox);

  function navigate(next) {
    ctx.go("drill", { ...next, ...base });
  }

  function drawFilters() {
    const selects = DIMENSIONS.map(([d, name]) => {
      const values = new Set(known[d] || []);
      if (filters[d]) values.add(filters[d]);
      const select = el(
        "select",
        { id: "filter-" + d, "aria-label": name, onchange: (e) => navigate({ ...filters, [d]: e.target.value }) },
        el("option", { value: "", text: "any" }),
        [...values].sort().map((v) => el("option", { value: v, text: v, selected: v === filters[d] })),
      );
      return el("label", {}, name + " ", select);
    });
    const baseStart = el("input", { type: "text", value: base.base_start, placeholder: "previous period", "aria-label": "compare from", size: 16 });
    const baseEnd = el("input", { type: "text", value: base.base_end, placeholder: "e.g. now-1d", "aria-label": "compare to", size: 16 });
    fill(
      filterBar,
      selects,
      el("label", {}, "compare with ", baseStart, " – ", baseEnd),
      el("button", {
        type: "button",
        text: "Compare",
        onclick: () => {
          base.base_start = baseStart.value.trim();
          base.base_end = baseEnd.value.trim();
          navigate(filters);
        },
      }),
      el("button", { type: "button", text: "Clear filters", onclick: () => ctx.go("drill", {}) }),
    );
  }
  drawFilters();

  async function refresh() {
    const r = ctx.range();
    let data, samples;
    try {
      [data, samples] = await Promise.all([
        getJson("/api/overview", { start: r.start, end: r.end, ...filters, ...base }),
        getJson("/api/samples", { start: r.start, end: r.end, ...filters, limit: 50 }),
      ]);
      fill(errors);
    } catch (err) {
      fill(errors, errorBox(err));
      throw err;
    }
    let changed = false;
    for (const [d] of DIMENSIONS) {
      const vals = data.breakdown[d].map((x) => x.value).filter((v) => v !== null);
      const before = (known[d] || []).join("\u0000");
      known[d] = [...new Set([...(known[d] || []), ...vals])];
      if (known[d].join("\u0000") !== before) changed = true;
    }
    if (changed) drawFilters();
    const t = data.totals;
    fill(
      summary,
      el("div", { class: "stat" }, el("div", { class: "stat-name", text: "Attempts" }), el("div", { class: "stat-value", text: int(t.attempts) }), el("div", { class: "stat-sub", text: "comparison " + int(t.base_attempts) })),
      el("div", { class: "stat" }, el("div", { class: "stat-name", text: "Failures" }), el("div", { class: "stat-value", text: int(t.failures) }), el("div", { class: "stat-sub", text: "comparison " + int(t.base_failures) })),
      el("div", { class: "stat" }, el("div", { class: "stat-name", text: "Failure rate" }), el("div", { class: "stat-value " + trendClass(t.change), text: pct(t.failure_rate) }), el("div", { class: "stat-sub", text: `comparison ${pct(t.base_failure_rate)} (${points(t.change)})` })),
      el("div", { class: "stat" }, el("div", { class: "stat-name", text: "Comparing" }), el("div", { class: "stat-sub", text: `${data.range.start} – ${data.range.end}` }), el("div", { class: "stat-sub", text: `with ${data.range.base_start} – ${data.range.base_end}` })),
    );
    chart.update({
      times: data.trend.times,
      series: data.trend.series.map((s) => ({ label: s.failure_cause, values: s.failure_rate })),
      stacked: true,
      percent: true,
      onPick: (cause) => cause && navigate({ ...filters, failure_cause: cause }),
    });
    if (!data.trend.series.length) fill(chartBox, el("p", { class: "muted", text: "no failures in this slice and window" }));
    fill(
      changedBox,
      el(
        "div",
        { class: "changes" },
        DIMENSIONS.filter(([d]) => !filters[d]).map(([d, name]) => changes(name, data.breakdown[d], (v) => navigate({ ...filters, [d]: v }))),
      ),
    );
    const cols = samples.columns;
    fill(samplesBox, samples.rows.length ? table(cols, samples.rows) : el("p", { class: "muted", text: "no failed attempts in this slice and window" }));
  }

  return { refresh, live: true, resize: () => chart.resize(), destroy: () => chart.destroy() };
}

function changes(name, rows, pick) {
  const top = rows.slice(0, 10);
  return el(
    "div",
    { class: "change-table" },
    el("h3", { text: name }),
    top.length
      ? el(
          "table",
          {},
          el("thead", {}, el("tr", {}, ["value", "failures", "rate", "was", "contribution"].map((c) => el("th", { text: c })))),
          el(
            "tbody",
            {},
            top.map((r) =>
              el(
                "tr",
                {},
                el("td", {}, r.value === null ? el("span", { text: "(none)" }) : el("a", { href: "#", text: label(r.value), onclick: (e) => { e.preventDefault(); pick(r.value); } })),
                el("td", { class: "num", text: int(r.failures) }),
                el("td", { class: "num", text: pct(r.failure_rate) }),
                el("td", { class: "num muted", text: pct(r.base_failure_rate) }),
                el("td", { class: "num " + trendClass(r.contribution), text: points(r.contribution) }),
              ),
            ),
          ),
        )
      : el("p", { class: "muted", text: "no data" }),
  );
}
