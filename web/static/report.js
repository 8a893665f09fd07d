// A model's verification report (owner and admin pages): one row per check, with ok,
// detail and time, and the suspension evidence when there is one.
import { el, num, status, time } from "./dom.js";

const CHECK_NAMES = {
  address: "Address is public",
  models: "Lists the served model",
  completion: "Answers a chat completion",
  stream: "Streams an answer",
  identity: "Says who it is",
  fingerprint: "Fingerprint recorded",
};

// Other keys (fingerprints, identity probes, …) are shown as text under "More".
const KNOWN = new Set(["checks", "passed", "suspended_reason"]);

export function report(model) {
  const rep = model.report || {};
  const checks = rep.checks || [];
  const box = el("div", {
    class: "report",
    "data-testid": "verification-report",
    "data-model-id": model.id,
    "data-status": model.status,
  });
  let summary = "Not verified yet.";
  if (model.status === "verifying") summary = "Verifying… this updates by itself.";
  else if (model.status === "suspended") summary = "Suspended: the endpoint stopped serving what was verified. The evidence is below.";
  else if (rep.passed === true) summary = model.status === "verified" ? "Every check passed." : "Every check passed at verification.";
  else if (rep.passed === false) summary = "A check failed: fix the endpoint and verify again.";
  box.append(el("p", { class: "report-summary" }, status(model.status), " ", summary));
  if (checks.length) {
    box.append(
      el(
        "ul",
        { class: "checks" },
        ...checks.map((c) =>
          el(
            "li",
            { class: c.ok ? "check ok" : "check failed", "data-check": c.name },
            el("span", { class: "check-mark", "aria-hidden": "true", text: c.ok ? "✓" : "✗" }),
            el("span", { class: "visually-hidden", text: c.ok ? "Passed: " : "Failed: " }),
            el("strong", { text: CHECK_NAMES[c.name] || c.name }),
            el("span", { class: "check-ms", text: `${num(c.ms, 0)} ms` }),
            el("span", { class: "check-detail", text: c.detail }),
          ),
        ),
      ),
    );
  } else if (model.status === "verifying") {
    box.append(el("p", { class: "hint", text: "The checks are running." }));
  }
  if (rep.suspended_reason) {
    box.append(
      el(
        "p",
        { class: "evidence", "data-testid": "suspension-evidence" },
        el("strong", { text: "Suspended " }),
        time(model.suspended_at),
        ": ",
        rep.suspended_reason,
      ),
    );
  }
  const extra = Object.entries(rep).filter(([key, value]) => !KNOWN.has(key) && value !== null && value !== undefined);
  if (extra.length) {
    box.append(
      el(
        "details",
        { class: "report-more" },
        el("summary", { text: "More from the report" }),
        el(
          "dl",
          {},
          ...extra.flatMap(([key, value]) => [
            el("dt", { text: key }),
            el("dd", {}, el("pre", { text: typeof value === "string" ? value : JSON.stringify(value, null, 2) })),
          ]),
        ),
      ),
    );
  }
  return box;
}
