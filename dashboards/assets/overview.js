// Overview: attempts and failure rate now vs the period before, the
// failure-rate trend by cause (stacked), top causes / channels / payment
// methods with their change, the channel × payment-method heat map and the
// alerts. Clicking any of them opens the drill-down filtered on it.

import { el, fill, card, pct, points, int, label, trendClass, errorBox } from "./dom.js";
import { getJson, ApiError } from "./api.js";
import { timeChart, barList, heatmap } from "./charts.js";

export function mount(root, ctx) {
  const stats = el("div", { class: "stats" });
  const [trendCard, trendBox] = card("Failure rate by cause", "wide");
  const chartBox = el("div", { class: "chart" });
  trendBox.appendChild(chartBox);
  const [causeCard, causeBox] = card("Top failure causes");
  const [channelCard, channelBox] = card("Channels");
  const [methodCard, methodBox] = card("Payment methods");
  const [heatCard, heatBox] = card("Failure rate: channel × payment method", "wide");
  const [alertCard, alertBox] = card("Alerts");
  const errors = el("div");
  fill(
    root,
    errors,
    stats,
    el("div", { class: "grid" }, trendCard, alertCard, causeCard, channelCard, methodCard, heatCard),
  );
  const chart = timeChart(chartBox);
  const drill = (params) => ctx.go("drill", params);

  async function refresh() {
    const r = ctx.range();
    let data;
    try {
      data = await getJson("/api/overview", { start: r.start, end: r.end });
      fill(errors);
    } catch (err) {
      fill(errors, errorBox(err));
      throw err;
    }
    const t = data.totals;
    fill(
      stats,
      stat("Attempts", int(t.attempts), `previous period ${int(t.base_attempts)}`, null),
      stat("Failures", int(t.failures), `previous period ${int(t.base_failures)}`, null),
      stat("Failure rate", pct(t.failure_rate), `baseline ${pct(t.base_failure_rate)} (${points(t.change)})`, t.change),
    );
    chart.update({
      times: data.trend.times,
      series: data.trend.series.map((s) => ({ label: s.failure_cause, values: s.failure_rate })),
      stacked: true,
      percent: true,
      onPick: (cause) => cause && drill({ failure_cause: cause }),
    });
    if (!data.trend.series.length) {
      fill(chartBox, el("p", { class: "muted", text: "no failures in this window" }));
    }
    const rateText = (x) => `${int(x.failures)} · ${pct(x.failure_rate)}`;
    const byFailures = (rows) => rows.slice().sort((a, b) => b.failures - a.failures).slice(0, 8);
    fill(causeBox, barList(byFailures(data.breakdown.failure_cause), {
      measure: (x) => x.failures, text: rateText, onPick: (v) => drill({ failure_cause: v }),
    }));
    fill(channelBox, barList(byFailures(data.breakdown.channel), {
      measure: (x) => x.failure_rate, text: rateText, onPick: (v) => drill({ channel: v }),
    }));
    fill(methodBox, barList(byFailures(data.breakdown.payment_method), {
      measure: (x) => x.failure_rate, text: rateText, onPick: (v) => v !== null && drill({ payment_method: v }),
    }));
    fill(heatBox, heatmap(data.heatmap, (channel, method) => drill({ channel, payment_method: method })));
    await alerts(alertBox, drill);
  }

  return { refresh, live: true, resize: () => chart.resize(), destroy: () => chart.destroy() };
}

function stat(name, value, sub, change) {
  return el(
    "div",
    { class: "stat" },
    el("div", { class: "stat-name", text: name }),
    el("div", { class: "stat-value " + (change === null ? "" : trendClass(change)), text: value }),
    el("div", { class: "stat-sub", text: sub }),
  );
}

/** The alerts panel: /api/alerts, or a calm note while alerting is off. */
async function alerts(box, drill) {
  let data;
  try {
    data = await getJson("/api/alerts");
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      fill(box, el("p", { class: "muted", text: "No alerts (alerting is not enabled on this server)." }));
      return;
    }
    fill(box, errorBox(err));
    return;
  }
  if (data && data.enabled === false) {
    fill(box, el("p", { class: "muted", text: "No alerts (spike detection is off on this server)." }));
    return;
  }
  const list = Array.isArray(data) ? data : data.alerts || [];
  const firing = list.filter((a) => a.status === "firing");
  const shown = firing.length ? firing : list.slice(0, 5);
  if (!shown.length) {
    fill(box, el("p", { class: "ok", text: "No alerts." }));
    return;
  }
  fill(
    box,
    shown.map((a) => {
      const slice = Object.entries(a.slice || {});
      const steps = String(a.runbook || "");
      return el(
        "article",
        { class: "alert " + (a.status === "firing" ? "firing" : "resolved") },
        el(
          "h3",
          {},
          el("a", {
            href: "#",
            text: slice.map(([k, v]) => `${k}=${v}`).join(", ") || "all traffic",
            onclick: (e) => {
              e.preventDefault();
              drill(Object.fromEntries(slice));
            },
          }),
          el("span", { class: "badge", text: a.status || "" }),
        ),
        el("p", {
          text: `failure rate ${pct(a.failure_rate)} vs baseline ${pct(a.baseline_rate)} · ${int(a.failures)} of ${int(a.attempts)} failed · since ${a.started_at || "?"}`,
        }),
        (a.contributors || []).length
          ? el("p", { class: "muted", text: "contributors: " + a.contributors.map((c) => `${c.dimension}=${label(c.value)} (${pct(c.share, 0)})`).join(", ") })
          : null,
        steps ? el("details", {}, el("summary", { text: "runbook" }), el("pre", { text: steps })) : null,
      );
    }),
  );
}
