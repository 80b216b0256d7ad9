// Runbooks: what to do for each failure cause (GET /api/runbooks; the
// server's --runbooks file over the built-in ones).

import { el, fill, errorBox } from "./dom.js";
import { getJson } from "./api.js";

export function mount(root, ctx) {
  const list = el("div", { class: "runbooks" });
  fill(root, el("p", { class: "muted", text: "One runbook per failure cause. Operators can replace them with their own TOML file (orderpulse serve --runbooks FILE)." }), list);
  async function refresh() {
    let data;
    try {
      data = await getJson("/api/runbooks");
    } catch (err) {
      fill(list, errorBox(err));
      throw err;
    }
    fill(
      list,
      data.runbooks.map((b) => {
        const art = el(
          "article",
          { class: "card runbook", id: "runbook-" + b.failure_cause },
          el("h2", {}, el("code", { text: b.failure_cause }), " ", b.title),
          b.summary ? el("p", { text: b.summary }) : null,
          el("ol", {}, b.steps.map((s) => el("li", { text: s }))),
          b.owner ? el("p", { class: "muted", text: "Owner: " + b.owner }) : null,
          el("a", { href: "#", text: "see this cause in the drill-down", onclick: (e) => { e.preventDefault(); ctx.go("drill", { failure_cause: b.failure_cause }); } }),
        );
        if (ctx.params.cause === b.failure_cause) art.classList.add("focus");
        return art;
      }),
    );
    const focus = ctx.params.cause && document.getElementById("runbook-" + ctx.params.cause);
    if (focus) focus.scrollIntoView();
  }
  return { refresh, live: false, destroy() {} };
}
