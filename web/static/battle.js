// The battle page: ask, watch both answers stream, vote, see who was who.
//
// Model output is untrusted. While it streams it goes into the panes as text nodes only;
// once a turn is stored, the server's sanitized Markdown (nh3) replaces that text.
import { ApiError, json, request } from "./api.js";
import { readEvents } from "./sse.js";

const SIDES = ["A", "B"];
const KEYS = { a: "A", 1: "A", b: "B", 2: "B", t: "tie", 3: "tie", x: "bothbad", 4: "bothbad" };
const LABELS = { A: "A is better", B: "B is better", tie: "Tie", bothbad: "Both are bad" };
const DISCONNECTED = "The connection closed before the answer finished.";

const root = document.getElementById("battle");
const prompt = document.getElementById("prompt");
const sendButton = document.getElementById("send");
const notice = document.getElementById("notice");
const status = document.getElementById("status");
const reveal = document.getElementById("reveal");
const newBattle = document.getElementById("new-battle");
const voteButtons = [...document.querySelectorAll("button[data-winner]")];
const panes = Object.fromEntries(SIDES.map((s) => [s, document.getElementById(`pane-${s}`)]));

const state = {
  battleId: root.dataset.battleId || null,
  turns: Number(root.dataset.turns || 0),
  canVote: root.dataset.canVote === "true",
  voted: root.dataset.voted === "true",
  failedContent: root.dataset.retry || null,
  busy: false,
};

function say(message) {
  status.textContent = message;
}

function warn(message) {
  notice.textContent = message;
  notice.hidden = !message;
}

function refresh() {
  const idle = !state.busy && !state.voted;
  for (const button of voteButtons) button.disabled = !(idle && state.canVote);
  sendButton.disabled = !idle;
  prompt.disabled = state.voted;
  sendButton.textContent = state.failedContent !== null ? "Retry" : "Send";
  for (const pane of Object.values(panes)) pane.setAttribute("aria-busy", String(state.busy));
}

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// A turn's DOM in both panes: {A: {answer, md}, B: {...}}.
function addTurn(index, content) {
  const intro = root.querySelector(".intro");
  if (intro) intro.hidden = true;
  const turn = {};
  for (const side of SIDES) {
    const pane = panes[side];
    const placeholder = pane.querySelector(".placeholder");
    if (placeholder) placeholder.hidden = true;
    const article = element("article", "turn");
    article.dataset.turn = String(index);
    const user = element("div", "user-msg");
    user.append(element("span", "visually-hidden", "You asked: "), content);
    const answer = element("div", "answer");
    const md = element("div", "md streaming");
    answer.append(md);
    article.append(user, answer);
    pane.insertBefore(article, placeholder || null);
    turn[side] = { answer, md };
  }
  return turn;
}

function existingTurn(index) {
  const turn = {};
  for (const side of SIDES) {
    const answer = panes[side].querySelector(`.turn[data-turn="${index}"] .answer`);
    for (const extra of answer.querySelectorAll(".side-error, .side-note")) extra.remove();
    const md = answer.querySelector(".md");
    md.replaceChildren();
    md.classList.add("streaming");
    turn[side] = { answer, md };
  }
  return turn;
}

function markFailed(part, message) {
  part.answer.dataset.status = "failed";
  const error = element("p", "side-error", message || "This model failed to answer.");
  error.setAttribute("role", "alert");
  part.answer.append(error);
}

async function stream(response, turn) {
  const outcome = { A: null, B: null };
  try {
    for await (const event of readEvents(response)) {
      const part = turn[event.side];
      if (!part) continue;
      if (typeof event.delta === "string") {
        part.md.append(event.delta); // a text node: never parsed as HTML
        part.answer.dataset.status = "streaming";
      } else if (event.done) {
        outcome[event.side] = "done";
        part.answer.dataset.status = "done";
      } else if (event.error) {
        outcome[event.side] = "failed";
        markFailed(part, event.error.message);
      }
    }
  } catch {
    // The connection broke: whatever side had not finished is reported below.
  }
  for (const side of SIDES) {
    if (outcome[side] === null) {
      outcome[side] = "failed";
      markFailed(turn[side], DISCONNECTED);
    }
  }
  return outcome;
}

// Swap the streamed text for the server's sanitized rendering of the stored answers.
async function showRendered(index, turn) {
  let body;
  try {
    body = await json("GET", `/battles/${state.battleId}/turns/${index}/render`);
  } catch {
    return; // the plain text stays; nothing is lost
  }
  for (const side of SIDES) {
    const rendered = body.sides[side];
    const md = turn[side].md;
    if (rendered && rendered.html) {
      md.innerHTML = rendered.html; // sanitized by nh3 on the server; CSP forbids inline JS
    }
    md.classList.remove("streaming");
  }
}

async function openBattle() {
  const created = await json("POST", "/api/v1/battles", {});
  state.battleId = created.battle_id;
  root.dataset.battleId = state.battleId;
  history.replaceState(null, "", `/battles/${state.battleId}`);
}

async function send() {
  const content = prompt.value;
  if (state.busy || state.voted) return;
  if (!content.trim()) {
    warn("Type a message first.");
    prompt.focus();
    return;
  }
  state.busy = true;
  state.canVote = false;
  warn("");
  say("Waiting for both answers…");
  refresh();
  try {
    if (!state.battleId) await openBattle();
    const retry = state.failedContent !== null;
    const index = retry ? state.turns - 1 : state.turns;
    const response = await request(
      "POST",
      `/api/v1/battles/${state.battleId}/messages`,
      { content },
      "text/event-stream",
    );
    const turn = retry ? existingTurn(index) : addTurn(index, content);
    if (!retry) state.turns += 1;
    prompt.value = "";
    const outcome = await stream(response, turn);
    await showRendered(index, turn);
    if (outcome.A === "done" && outcome.B === "done") {
      state.failedContent = null;
      state.canVote = true;
      say("Both answers are in. Vote below, or ask a follow-up.");
    } else {
      state.failedContent = content;
      prompt.value = content;
      say("");
      warn("A model failed to answer. Retry sends the same message to both models again.");
    }
  } catch (err) {
    say("");
    warn(err instanceof ApiError ? err.message : "Something went wrong. Please try again.");
  } finally {
    state.busy = false;
    refresh();
  }
}

function showReveal(revealed, winner) {
  for (const side of SIDES) {
    const who = revealed[side];
    const item = reveal.querySelector(`li[data-side="${side}"]`);
    const link = element("a");
    link.href = `/models/${encodeURIComponent(who.model)}`;
    link.append(element("strong", "", who.model));
    item.replaceChildren(`Model ${side} was `, link);
    if (who.organization) item.append(` by ${who.organization}`);
    document.querySelector(`.pane-name[data-name="${side}"]`).textContent = who.model;
  }
  reveal.querySelector(".your-vote").textContent = `Your vote: ${LABELS[winner]}.`;
  for (const button of voteButtons) {
    button.classList.toggle("chosen", button.dataset.winner === winner);
  }
  reveal.hidden = false;
  newBattle.classList.remove("secondary");
  newBattle.classList.add("primary");
  reveal.focus();
}

async function vote(winner) {
  if (state.busy || state.voted || !state.canVote) return;
  state.busy = true;
  warn("");
  refresh();
  try {
    const result = await json("POST", `/api/v1/battles/${state.battleId}/vote`, { winner });
    state.voted = true;
    showReveal(result.revealed, winner);
    say("Thanks for voting. Start a new battle whenever you like.");
  } catch (err) {
    warn(err instanceof ApiError ? err.message : "The vote was not recorded. Please try again.");
  } finally {
    state.busy = false;
    refresh();
  }
}

function typing(target) {
  return (
    target instanceof HTMLTextAreaElement ||
    target instanceof HTMLInputElement ||
    target instanceof HTMLSelectElement ||
    (target instanceof HTMLElement && target.isContentEditable)
  );
}

document.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target === prompt) {
    event.preventDefault();
    send();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
  const key = event.key.toLowerCase();
  if (key in KEYS) {
    if (!state.canVote || state.voted) return;
    event.preventDefault();
    vote(KEYS[key]);
  } else if (key === "/") {
    event.preventDefault();
    prompt.focus();
  } else if (key === "n" && (state.voted || state.turns === 0)) {
    event.preventDefault();
    window.location.assign("/");
  }
});

sendButton.addEventListener("click", send);
for (const button of voteButtons) {
  button.addEventListener("click", () => vote(button.dataset.winner));
}

// Reloaded while an answer was still streaming: wait for the server to finish, then reload.
async function awaitStreaming() {
  for (let i = 0; i < 60; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 1500));
    try {
      const view = await json("GET", `/api/v1/battles/${state.battleId}`);
      const last = view.turns[view.turns.length - 1];
      if (!last || last.status !== "streaming") {
        window.location.reload();
        return;
      }
    } catch {
      return;
    }
  }
}

if (root.dataset.lastStatus === "streaming") {
  state.busy = true;
  say("An answer is still streaming; this page updates when it is done.");
  awaitStreaming().finally(() => {
    state.busy = false;
    refresh();
  });
}
refresh();
