// Charts: time series with the vendored uPlot (global `uPlot`), bar lists
// and a heat map from plain elements. Colours are set through
// element.style (allowed by the CSP; style attributes in HTML are not).

import { el, fill, pct, points, int, label, trendClass } from "./dom.js";

const PALETTE = [
  "#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4",
  "#f032e6", "#bfef45", "#469990", "#9a6324", "#800000", "#808000",
  "#000075", "#a9a9a9",
];

/** A stable colour per name. */
export function colour(name, i = 0) {
  let h = 0;
  for (const c of String(name)) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return PALETTE[(h + i) % PALETTE.length];
}

function fmtTime(secs) {
  const d = new Date(secs * 1000);
  return d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

/**
 * A time-series chart in `box`, kept across refreshes: `update(data)` calls
 * setData when the series are the same, else rebuilds.
 * spec: {times: [unix s], series: [{label, values, colour?}], stacked,
 *        percent, height, onPick(label, timeSecs)}
 */
export function timeChart(box) {
  let plot = null;
  let key = "";
  let raw = [];
  let spec = null;

  function sizeOf() {
    return { width: Math.max(box.clientWidth, 320), height: spec.height || 240 };
  }

  function stackedValues(series) {
    const acc = new Array(spec.times.length).fill(0);
    return series.map((s) =>
      s.values.map((v, i) => {
        if (v === null || v === undefined) return null;
        acc[i] += v;
        return acc[i];
      }),
    );
  }

  function toData() {
    const ys = spec.stacked ? stackedValues(spec.series) : spec.series.map((s) => s.values);
    // uPlot draws in order: with stacking, the tallest (last) goes first.
    const order = spec.stacked ? ys.map((_, i) => ys.length - 1 - i) : ys.map((_, i) => i);
    return { order, data: [spec.times, ...order.map((i) => ys[i])] };
  }

  function build() {
    if (plot) plot.destroy();
    const { order, data } = toData();
    const fmt = spec.percent ? (v) => pct(v) : (v) => int(v);
    const series = [{ value: (u, v) => (v === null ? "–" : fmtTime(v)) }].concat(
      order.map((i) => {
        const s = spec.series[i];
        const c = s.colour || colour(s.label);
        return {
          label: s.label,
          stroke: c,
          width: 1.5,
          fill: spec.stacked ? c + "99" : undefined,
          points: { show: false },
          value: (u, v, si, idx) => {
            const original = raw[i] && idx !== null ? raw[i][idx] : v;
            return original === null || original === undefined ? "–" : fmt(original);
          },
        };
      }),
    );
    plot = new uPlot(
      {
        ...sizeOf(),
        series,
        scales: { x: { time: true } },
        axes: [{}, { values: (u, vals) => vals.map((v) => (spec.percent ? (v * 100).toFixed(1) + "%" : int(v))), size: 60 }],
        cursor: { drag: { x: false, y: false } },
        legend: { live: true },
      },
      data,
      box,
    );
    plot.over.addEventListener("click", () => {
      if (!spec.onPick) return;
      const idx = plot.cursor.idx;
      if (idx === null || idx === undefined) return;
      const y = plot.posToVal(plot.cursor.top, "y");
      spec.onPick(pickSeries(idx, y), spec.times[idx]);
    });
    plot.over.classList.add(spec.onPick ? "clickable" : "plain");
  }

  // The series under the cursor: in a stack, the band holding y.
  function pickSeries(idx, y) {
    if (!spec.series.length) return null;
    if (spec.stacked) {
      let acc = 0;
      for (const s of spec.series) {
        acc += s.values[idx] || 0;
        if (y <= acc) return s.label;
      }
      return spec.series[spec.series.length - 1].label;
    }
    let best = null;
    let dist = Infinity;
    for (const s of spec.series) {
      const v = s.values[idx];
      if (v !== null && Math.abs(v - y) < dist) {
        dist = Math.abs(v - y);
        best = s.label;
      }
    }
    return best;
  }

  return {
    update(next) {
      spec = next;
      raw = spec.series.map((s) => s.values);
      const k = JSON.stringify([spec.series.map((s) => s.label), spec.stacked, spec.percent]);
      if (!plot || k !== key || !box.contains(plot.root)) {
        key = k;
        fill(box);
        build();
      } else {
        plot.setData(toData().data);
      }
    },
    resize() {
      if (plot && spec) plot.setSize(sizeOf());
    },
    destroy() {
      if (plot) plot.destroy();
      plot = null;
    },
  };
}

/**
 * Horizontal bars: rows of {value, failures, failure_rate, change, ...}.
 * `measure(row)` gives the bar length, `onPick(value)` makes rows links.
 */
export function barList(rows, { measure, text, onPick, max } = {}) {
  const top = max || Math.max(1e-12, ...rows.map(measure));
  if (!rows.length) return el("p", { class: "muted", text: "no data in this window" });
  return el(
    "ul",
    { class: "bars" },
    rows.map((r) => {
      const bar = el("span", { class: "bar" });
      bar.style.width = Math.max(1, (100 * measure(r)) / top).toFixed(1) + "%";
      bar.style.backgroundColor = colour(label(r.value));
      const name = onPick
        ? el("a", { href: "#", class: "name", text: label(r.value), onclick: (e) => { e.preventDefault(); onPick(r.value); } })
        : el("span", { class: "name", text: label(r.value) });
      return el(
        "li",
        {},
        name,
        el("span", { class: "track" }, bar),
        el("span", { class: "figure", text: text(r) }),
        el("span", { class: "change " + trendClass(r.change), text: points(r.change), title: "vs previous period: " + pct(r.base_failure_rate) }),
      );
    }),
  );
}

/** Heat map of failure rate: channels × payment methods. */
export function heatmap(data, onPick) {
  const { channels, payment_methods: methods, cells } = data;
  if (!cells.length) return el("p", { class: "muted", text: "no data in this window" });
  const at = new Map(cells.map((c) => [label(c.channel) + "\u0000" + label(c.payment_method), c]));
  const max = Math.max(0.0001, ...cells.map((c) => c.failure_rate));
  const head = el("tr", {}, el("th", { text: "channel \\ payment" }), methods.map((m) => el("th", { text: label(m) })));
  const body = channels.map((ch) =>
    el(
      "tr",
      {},
      el("th", { text: label(ch) }),
      methods.map((m) => {
        const c = at.get(label(ch) + "\u0000" + label(m));
        if (!c) return el("td", { class: "empty", text: "" });
        const td = el("td", {
          class: "cell clickable",
          title: `${label(ch)} × ${label(m)}: ${int(c.failures)} of ${int(c.attempts)} failed`,
          text: pct(c.failure_rate, 1),
          onclick: () => onPick && onPick(ch, m),
        });
        const heat = Math.min(1, c.failure_rate / max);
        td.style.backgroundColor = `rgba(220, 38, 38, ${(0.08 + 0.82 * heat).toFixed(3)})`;
        if (heat > 0.55) td.style.color = "#fff";
        return td;
      }),
    ),
  );
  return el("div", { class: "table-wrap" }, el("table", { class: "heat" }, el("thead", {}, head), el("tbody", {}, body)));
}
