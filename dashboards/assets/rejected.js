// Rejected records: counts per reason over time, totals, and the newest
// samples (raw bytes shown as text, never interpreted).

import { el, fill, card, errorBox, table, int } from "./dom.js";
import { getJson } from "./api.js";
import { timeChart, colour } from "./charts.js";

export function mount(root, ctx) {
  const reason = ctx.params.reason || "";
  const errors = el("div");
  const [trendCard, trendBox] = card("Rejected records per reason", "wide");
  const chartBox = el("div", { class: "chart" });
  trendBox.appendChild(chartBox);
  const [totalsCard, totalsBox] = card("By reason");
  const [samplesCard, samplesBox] = card(reason ? `Newest samples: ${reason}` : "Newest samples", "wide");
  fill(root, errors, el("div", { class: "grid" }, trendCard, totalsCard, samplesCard));
  const chart = timeChart(chartBox);

  async function refresh() {
    const r = ctx.range();
    let data;
    try {
      data = await getJson("/api/rejected", { start: r.start, end: r.end, reason, limit: 100 });
      fill(errors);
    } catch (err) {
      fill(errors, errorBox(err));
      throw err;
    }
    if (data.trend.series.length) {
      chart.update({
        times: data.trend.times,
        series: data.trend.series.map((s) => ({ label: s.reason, values: s.records })),
        stacked: true,
        percent: false,
        onPick: (picked) => picked && ctx.go("rejected", { reason: picked }),
      });
    } else {
      chart.destroy();
      fill(chartBox, el("p", { class: "ok", text: "No rejected records in this window." }));
    }
    fill(
      totalsBox,
      data.totals.length
        ? el(
            "ul",
            { class: "plain-list" },
            data.totals.map((t) => {
              const dot = el("span", { class: "dot" });
              dot.style.backgroundColor = colour(t.reason);
              return el("li", {}, dot, el("a", { href: "#/rejected?reason=" + encodeURIComponent(t.reason), text: t.reason }), " ", el("span", { class: "num", text: int(t.records) }));
            }),
            reason ? el("li", {}, el("a", { href: "#/rejected", text: "all reasons" })) : null,
          )
        : el("p", { class: "muted", text: "none" }),
    );
    fill(
      samplesBox,
      data.samples.length
        ? table(data.columns, data.samples, { cellClass: (j) => (data.columns[j] === "raw" || data.columns[j] === "detail" ? "mono" : "") })
        : el("p", { class: "muted", text: "no samples" }),
    );
  }

  return { refresh, live: true, resize: () => chart.resize(), destroy: () => chart.destroy() };
}
