// One of the owner's models: its facts, its verification report and, once it has been in the
// battle pool, its numbers. Each numbers section is one function in SECTIONS, so a new one
// (style coefficients, …) is one more entry.
import { el, facts, num, rating, status, table, time } from "./dom.js";
import { report } from "./report.js";

const REVERIFY_FROM = new Set(["rejected", "suspended", "verified"]);

function interval(r) {
  return el(
    "span",
    {},
    rating(r.rating),
    " ",
    el("span", { class: "ci-text", text: `(${rating(r.ci_low)}–${rating(r.ci_high)})` }),
  );
}

function ratingSection(p) {
  const r = p.rating;
  const c = p.counts;
  return facts([
    ["Rating (95% interval)", r ? interval(r) : "not on the board yet", "owner-rating"],
    ["Rank", r ? `${r.rank} of ${r.models}` : "–"],
    ["Battles", num(c.battles), "owner-battles"],
    ["Votes", num(c.votes), "owner-votes"],
    ["Votes counted", num(c.votes_included)],
  ]);
}

function activitySection(p) {
  if (!p.activity.length) return el("p", { class: "empty", text: "No battles yet." });
  return table(
    "Battles and votes per day (UTC)",
    [["Day"], ["Battles", "num"], ["Votes", "num"], ["Counted", "num"]],
    p.activity.map((d) => [[d.day], [num(d.battles), "num"], [num(d.votes), "num"], [num(d.votes_included), "num"]]),
    "owner-activity",
  );
}

function historySection(p) {
  if (!p.history.length) return el("p", { class: "empty", text: "No leaderboard snapshot includes this model yet." });
  return table(
    "Rating in each leaderboard snapshot",
    [["Snapshot", "num"], ["Computed"], ["Rating", "num"], ["95% interval"], ["Rank", "num"]],
    [...p.history].reverse().map((h) => [
      [`#${h.snapshot_id}`, "num"],
      [time(h.computed_at)],
      [rating(h.rating), "num"],
      [`${rating(h.ci_low)}–${rating(h.ci_high)}`],
      [num(h.rank), "num"],
    ]),
    "owner-history",
  );
}

function winRatesSection(p) {
  if (!p.win_rates.length) return el("p", { class: "empty", text: "No counted votes yet." });
  return table(
    "Counted votes against each opponent; ties count half",
    [["Opponent"], ["Win rate", "num"], ["Votes", "num"], ["Won", "num"], ["Lost", "num"], ["Tie", "num"], ["Both bad", "num"]],
    p.win_rates.map((w) => [
      [w.opponent],
      [`${num(w.win_rate * 100)}%`, "num"],
      [num(w.votes), "num"],
      [num(w.wins), "num"],
      [num(w.losses), "num"],
      [num(w.ties), "num"],
      [num(w.bothbad), "num"],
    ]),
    "owner-win-rates",
  );
}

function latencySection(p) {
  const l = p.latency;
  if (!l.answers) return el("p", { class: "empty", text: "No finished battle answers measured yet." });
  const ms = (v) => (v === null ? "–" : `${num(v)} ms`);
  return facts([
    ["Answers measured", num(l.answers)],
    ["First token, median", ms(l.ttft_ms_p50), "owner-ttft"],
    ["First token, 90th pct.", ms(l.ttft_ms_p90)],
    ["Whole answer, median", ms(l.duration_ms_p50)],
    ["Tokens/s, median", l.tokens_per_second_p50 === null ? "–" : num(l.tokens_per_second_p50, 1)],
  ]);
}

function driftSection(p) {
  if (!p.drift.length) return el("p", { class: "empty", text: "No drift found: the endpoint still serves what was verified." });
  return el(
    "ul",
    { class: "drift" },
    ...p.drift.map((d) =>
      el(
        "li",
        {},
        time(d.at),
        ": ",
        d.reason,
        d.evidence ? el("pre", { class: "evidence-data", text: JSON.stringify(d.evidence, null, 2) }) : null,
      ),
    ),
  );
}

export const SECTIONS = [
  ["Rating and votes", ratingSection],
  ["Battles and votes over time", activitySection],
  ["Rating over time", historySection],
  ["Win rate against each opponent", winRatesSection],
  ["Serving latency in battles", latencySection],
  ["Drift history", driftSection],
];

function performance(model) {
  const p = model.performance;
  if (!p) return null;
  return el(
    "div",
    { class: "performance", "data-testid": "owner-performance" },
    ...SECTIONS.map(([title, build]) =>
      el("section", { class: "perf-section" }, el("h4", { text: title }), build(p)),
    ),
    el(
      "p",
      {},
      el("a", { href: `/models/${encodeURIComponent(model.name)}`, text: "Public model page (rating chart)" }),
    ),
  );
}

export function modelCard(model, actions) {
  const title = el("h3", { id: `model-${model.id}-title` }, model.name, " ", status(model.status));
  const card = el(
    "article",
    {
      class: "model-card",
      "data-model-card": model.id,
      "data-status": model.status,
      "aria-labelledby": `model-${model.id}-title`,
      tabindex: "-1",
    },
    title,
    facts([
      ["Organization", model.organization || "–"],
      ["Licence", model.license === "open" ? "Open weights" : "Proprietary"],
      ["Base URL", el("code", { text: model.base_url })],
      ["Served name", el("code", { text: model.api_model })],
      ["API key", model.has_api_key ? "set (hidden)" : "none"],
      ["Registered", time(model.created_at)],
    ]),
  );
  if (model.aliases && model.aliases.length) {
    card.append(el("p", { class: "aliases" }, el("strong", { text: "Identity aliases: " }), model.aliases.join(", ")));
  }
  card.append(el("h4", { text: "Verification report" }), report(model));
  if (REVERIFY_FROM.has(model.status)) {
    const button = el("button", { type: "button", class: "secondary", text: "Verify again" });
    button.addEventListener("click", () => actions.reverify(model, button));
    card.append(el("p", {}, button));
  }
  const numbers = performance(model);
  if (numbers) card.append(numbers);
  return card;
}
