// The operator's page: pending and suspended models with their reports, approve / retire /
// re-verify, and the exclusion audit ledger. The admin token stays in this tab's
// sessionStorage; without it nothing is fetched.
import { ApiError, authed } from "./api.js";
import { el, facts, num, time } from "./dom.js";
import { report } from "./report.js";

const KEY = "arena.adminToken";
const POLL_MS = 1000;
const CONFIRM_MS = 5000;
const PAGE = 50;
const $ = (id) => document.getElementById(id);

const tokenForm = $("admin-token-form");
const tokenInput = $("admin-token");
const forget = $("admin-forget");
const prompt = $("admin-prompt");
const errorBox = $("admin-error");
const data = $("admin-data");
const statusLine = $("admin-status");
const reasonFilter = $("reason-filter");
const ledgerRows = $("ledger-rows");
const more = $("ledger-more");

const state = { token: sessionStorage.getItem(KEY), before: null, polling: false };

function say(message) {
  statusLine.textContent = message;
}

function fail(message) {
  errorBox.textContent = message;
  errorBox.hidden = !message;
}

// Signed in, the form shrinks to "Forget token"; the token itself is never shown again.
function showSignedIn(yes) {
  for (const node of tokenForm.querySelectorAll("label, input, button[type=submit]")) node.hidden = yes;
  $("admin-signed-in").hidden = !yes;
  forget.hidden = !yes;
  prompt.hidden = yes;
}

function signedOut(message) {
  sessionStorage.removeItem(KEY);
  state.token = null;
  data.hidden = true;
  showSignedIn(false);
  for (const id of ["pending", "suspended", "reason-counts"]) $(id).replaceChildren();
  ledgerRows.replaceChildren();
  fail(message);
}

function authMessage(err) {
  if (!(err instanceof ApiError)) return "Something went wrong. Please try again.";
  if (err.status === 401) return "This admin token is not valid. Check ARENA_ADMIN_TOKEN and paste it again.";
  if (err.code === "admin_required") return "That is an owner token, not the admin token.";
  if (err.code === "admin_disabled") return "The admin API is off: the operator has not set ARENA_ADMIN_TOKEN.";
  return null;
}

async function call(method, url, body) {
  try {
    return await authed(state.token, method, url, body);
  } catch (err) {
    const message = authMessage(err);
    if (message) {
      signedOut(message);
      throw new ApiError(err.status || 0, message, "signed_out");
    }
    throw err;
  }
}

// --- models ----------------------------------------------------------------------------------

function actionButton(label, run, { confirm = false, primary = false } = {}) {
  const button = el("button", { type: "button", class: primary ? "primary" : "secondary", text: label });
  let armed = null;
  button.addEventListener("click", async () => {
    if (confirm && armed === null) {
      // Retiring cannot be undone: a second press within a few seconds confirms.
      button.textContent = `Confirm: ${label.toLowerCase()}`;
      armed = setTimeout(() => {
        armed = null;
        button.textContent = label;
      }, CONFIRM_MS);
      return;
    }
    clearTimeout(armed);
    armed = null;
    button.disabled = true;
    try {
      await run();
    } catch (err) {
      if (err.code !== "signed_out") fail(err instanceof ApiError ? err.message : "The action failed.");
      button.disabled = false;
      button.textContent = label;
    }
  });
  return button;
}

function decide(model, verb, url) {
  return async () => {
    fail("");
    const result = await call("POST", url, {});
    say(`${model.name}: ${verb} (now ${result.status}).`);
    await loadModels();
  };
}

function card(model) {
  const actions = el("div", { class: "actions" });
  if (model.status === "verified") {
    actions.append(actionButton("Approve", decide(model, "approved", `/api/v1/admin/models/${model.id}/approve`), { primary: true }));
  }
  actions.append(
    actionButton("Re-verify", decide(model, "verification restarted", `/api/v1/models/${model.id}/verify`)),
    actionButton("Retire", decide(model, "retired", `/api/v1/admin/models/${model.id}/retire`), { confirm: true }),
  );
  for (const b of actions.querySelectorAll("button")) b.dataset.action = b.textContent.toLowerCase().replace(/[^a-z-]/g, "");
  return el(
    "article",
    { class: "model-card", "data-model-card": model.id, "data-status": model.status, "aria-labelledby": `admin-model-${model.id}` },
    el("h3", { id: `admin-model-${model.id}`, text: model.name }),
    facts([
      ["Organization", model.organization || "–"],
      ["Owner", model.owner_id === null ? "operator" : `#${model.owner_id}`],
      ["Base URL", el("code", { text: model.base_url })],
      ["Served name", el("code", { text: model.api_model })],
      ["Registered", time(model.created_at)],
    ]),
    report(model),
    actions,
  );
}

function fill(container, models, empty) {
  container.replaceChildren(...(models.length ? models.map(card) : [el("p", { class: "empty", text: empty })]));
}

async function loadModels() {
  const [verifying, verified, suspended] = await Promise.all(
    ["verifying", "verified", "suspended"].map((s) => call("GET", `/api/v1/admin/models?status=${s}`)),
  );
  fill($("pending"), [...verified, ...verifying], "Nothing is waiting for a decision.");
  fill($("suspended"), suspended, "No suspended models.");
  if (verifying.length) pollVerifying();
}

async function pollVerifying() {
  if (state.polling) return;
  state.polling = true;
  try {
    while (state.token) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      if (!state.token) return;
      let still;
      try {
        still = await call("GET", "/api/v1/admin/models?status=verifying");
      } catch (err) {
        if (err.code === "signed_out") return;
        continue; // a dropped request: ask again on the next tick
      }
      const shown = $("pending").querySelectorAll('article[data-status="verifying"]').length;
      if (still.length !== shown || !still.length) {
        await loadModels().catch(() => {});
        if (!still.length) return;
      }
    }
  } finally {
    state.polling = false;
  }
}

// --- exclusion ledger ----------------------------------------------------------------------

async function loadCounts() {
  const body = await call("GET", "/api/v1/admin/exclusions/counts");
  const reasons = Object.entries(body.counts);
  const chosen = reasonFilter.value;
  reasonFilter.replaceChildren(
    el("option", { value: "", text: `All reasons (${num(reasons.reduce((n, [, c]) => n + c, 0))})` }),
    ...reasons.map(([reason, n]) => el("option", { value: reason, text: `${reason} (${num(n)})` })),
  );
  reasonFilter.value = reasons.some(([r]) => r === chosen) ? chosen : "";
  $("reason-counts").replaceChildren(
    el("p", { class: "ci-text", text: `${num(body.votes_excluded)} votes excluded.` }),
    ...reasons.map(([reason, n]) => {
      const b = el("button", { type: "button", class: "secondary count", "data-reason": reason, "aria-pressed": String(reason === reasonFilter.value) }, el("strong", { text: num(n) }), ` ${reason}`);
      b.addEventListener("click", () => {
        reasonFilter.value = reasonFilter.value === reason ? "" : reason;
        loadLedger(true);
      });
      return b;
    }),
  );
}

async function loadLedger(fresh) {
  if (fresh) state.before = null;
  const params = new URLSearchParams({ limit: String(PAGE) });
  if (reasonFilter.value) params.set("reason", reasonFilter.value);
  if (state.before) params.set("before", String(state.before));
  const page = await call("GET", `/api/v1/admin/exclusions?${params}`);
  const rows = page.exclusions.map((x) =>
    el(
      "tr",
      { "data-reason": x.reason },
      el("td", { class: "num", text: String(x.vote_id) }),
      el("td", { class: "opt" }, el("code", { text: x.battle_id.slice(0, 12) })),
      el("td", { text: x.reason }),
      el("td", { class: "detail", text: x.detail || "–" }),
      el("td", { class: "opt" }, time(x.created_at)),
    ),
  );
  if (fresh) ledgerRows.replaceChildren(...rows);
  else ledgerRows.append(...rows);
  if (!ledgerRows.children.length) {
    ledgerRows.append(el("tr", {}, el("td", { colspan: "5", class: "empty", text: "No excluded votes." })));
  }
  state.before = page.next_before;
  more.hidden = page.next_before === null;
  for (const b of $("reason-counts").querySelectorAll("button[data-reason]")) {
    b.setAttribute("aria-pressed", String(b.dataset.reason === reasonFilter.value));
  }
}

// --- start ---------------------------------------------------------------------------------

async function load() {
  if (!state.token) {
    signedOut("");
    return;
  }
  showSignedIn(true);
  say("Loading…");
  try {
    await Promise.all([loadModels(), loadCounts()]);
    await loadLedger(true);
    fail("");
    data.hidden = false;
    say("");
  } catch (err) {
    if (err.code !== "signed_out") fail(err instanceof ApiError ? err.message : "Loading failed.");
  }
}

tokenForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const token = tokenInput.value.trim();
  tokenInput.value = "";
  if (!token) {
    fail("Paste the admin token first.");
    tokenInput.focus();
    return;
  }
  sessionStorage.setItem(KEY, token);
  state.token = token;
  load();
});
forget.addEventListener("click", () => {
  signedOut("");
  tokenInput.focus();
});
reasonFilter.addEventListener("change", () => loadLedger(true).catch(() => {}));
$("ledger-filter").addEventListener("submit", (event) => event.preventDefault());
more.addEventListener("click", () => loadLedger(false).catch(() => {}));

load();
