// The owners page: get or paste a token, register an endpoint, watch it verify, see its numbers.
//
// The token lives where the owner chose: this tab's sessionStorage, or localStorage when
// "remember on this device" is ticked; never in a cookie. It is sent only as a Bearer header.
import { ApiError, authed, fieldErrors, json } from "./api.js";
import { el } from "./dom.js";
import { modelCard } from "./owner_models.js";

const KEY = "arena.ownerToken";
const POLL_MS = 1000;
const $ = (id) => document.getElementById(id);

const tokenNone = $("token-none");
const tokenActive = $("token-active");
const tokenFresh = $("token-fresh");
const tokenStatus = $("token-status");
const remember = $("remember");
const registerForm = $("register");
const registerFields = $("register-fields");
const registerSubmit = $("register-submit");
const registerStatus = $("register-status");
const list = $("owner-models");

const state = { token: null, busy: false, polling: new Set(), started: new Map() };

// --- token storage -----------------------------------------------------------------------

function stored() {
  const session = sessionStorage.getItem(KEY);
  if (session) return { token: session, where: "this tab only" };
  const local = localStorage.getItem(KEY);
  return local ? { token: local, where: "remembered on this device" } : null;
}

function keep(token) {
  forgetStored();
  (remember.checked ? localStorage : sessionStorage).setItem(KEY, token);
}

function forgetStored() {
  sessionStorage.removeItem(KEY);
  localStorage.removeItem(KEY);
}

function notice(node, message) {
  node.textContent = message || "";
  node.hidden = !message;
}

function showToken() {
  const saved = stored();
  state.token = saved ? saved.token : null;
  tokenActive.hidden = !saved;
  tokenNone.hidden = Boolean(saved);
  registerFields.disabled = !saved;
  $("register-needs-token").hidden = Boolean(saved);
  if (saved) {
    $("token-mask").textContent = `${saved.token.slice(0, 16)}…`;
    $("token-where").textContent = `(${saved.where})`;
  }
}

function signedOut(message) {
  forgetStored();
  showToken();
  tokenFresh.hidden = true;
  list.replaceChildren(el("p", { class: "empty", text: "Your models appear here once you have a token." }));
  notice(tokenStatus, message);
}

// --- field errors --------------------------------------------------------------------------

function clearErrors(form) {
  for (const slot of form.querySelectorAll("[data-error-for]")) notice(slot, "");
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
}

function showErrors(form, errors) {
  let first = null;
  for (const [name, message] of Object.entries(errors)) {
    const slot = form.querySelector(`[data-error-for="${name}"]`) || form.querySelector('[data-error-for="_form"]');
    notice(slot, slot.textContent ? `${slot.textContent} ${message}` : message);
    const input = form.querySelector(`[name="${name}"]`);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    }
  }
  (first || form.querySelector("button[type=submit]")).focus();
}

// The browser checks what the HTML attributes say (the API's own limits), in the API's words.
function localErrors(form) {
  const errors = {};
  for (const input of form.querySelectorAll("input[name], select[name]")) {
    if (input.dataset.list) {
      const items = splitList(input.value);
      const max = Number(input.dataset.itemMaxlength || 0);
      if (max && items.some((item) => item.length > max)) errors[input.name] = `each entry at most ${max} characters`;
      const most = Number(input.dataset.maxItems || 0);
      if (most && items.length > most) errors[input.name] = `at most ${most} entries`;
    }
    if (input.validity.valid) continue;
    if (input.validity.valueMissing) errors[input.name] = "required";
    else if (input.validity.tooLong) errors[input.name] = `at most ${input.maxLength} characters`;
    else if (input.validity.typeMismatch) errors[input.name] = input.type === "url" ? "not a URL: it starts with http or https, then ://" : "not an email address";
    else errors[input.name] = input.validationMessage;
  }
  return errors;
}

function splitList(value) {
  return value.split(",").map((s) => s.trim()).filter(Boolean);
}

// Where an API error belongs on the registration form.
function registrationErrors(err) {
  if (err.status === 422) return fieldErrors(err.message);
  if (err.code === "model_name_taken") return { name: err.message };
  if (err.code === "endpoint_not_allowed") return { base_url: err.message };
  if (err.code === "invalid_model") {
    if (/base url/i.test(err.message)) return { base_url: err.message };
    if (/served model|api_model/i.test(err.message)) return { api_model: err.message };
    if (/name/i.test(err.message)) return { name: err.message };
  }
  if (err.status === 429) return { _form: `Limit reached: ${err.message.replace(/^Too many requests: /, "")}. Nothing was registered.` };
  return { _form: err.message };
}

// --- models list and live verification -------------------------------------------------------

async function loadModels() {
  if (!state.token) return;
  let models;
  try {
    models = await authed(state.token, "GET", "/api/v1/owners/me/models");
  } catch (err) {
    handleAuthError(err);
    return;
  }
  notice(tokenStatus, "");
  render(models);
}

function handleAuthError(err) {
  if (err instanceof ApiError && err.status === 401) {
    signedOut("This owner token is not valid (wrong, or no longer known to this arena). Paste a valid token or get a new one.");
  } else if (err instanceof ApiError && err.code === "owner_token_required") {
    signedOut("That is not an owner token (the admin token belongs on the admin page).");
  } else {
    notice(tokenStatus, err instanceof ApiError ? err.message : "Something went wrong. Please try again.");
  }
}

function render(models) {
  if (!models.length) {
    list.replaceChildren(el("p", { class: "empty", text: "No models yet: register one above." }));
    return;
  }
  list.replaceChildren(...models.map((m) => modelCard(m, { reverify })));
  for (const m of models) {
    if (m.status === "verifying") poll(m.id);
    else settled(m); // a fast endpoint may be done before the first look
  }
}

function replaceCard(model) {
  const old = list.querySelector(`[data-model-card="${model.id}"]`);
  const card = modelCard(model, { reverify });
  if (old) old.replaceWith(card);
  else list.prepend(card);
}

async function poll(id) {
  if (state.polling.has(id)) return;
  state.polling.add(id);
  try {
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      if (!state.token) return;
      let model;
      try {
        model = await authed(state.token, "GET", `/api/v1/models/${id}`);
      } catch (err) {
        if (err instanceof ApiError && err.status === 0) continue; // dropped: ask again
        handleAuthError(err);
        return;
      }
      if (model.status === "verifying") {
        replaceCard(model);
        continue;
      }
      settled(model);
      await loadModels(); // the settled card with everything the list knows
      return;
    }
  } finally {
    state.polling.delete(id);
  }
}

function settled(model) {
  const started = state.started.get(model.id);
  if (started === undefined) return;
  state.started.delete(model.id);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  registerStatus.dataset.settledSeconds = seconds;
  registerStatus.textContent = `“${model.name}” is ${model.status} after ${seconds} s.`;
}

async function reverify(model, button) {
  button.disabled = true;
  try {
    await authed(state.token, "POST", `/api/v1/models/${model.id}/verify`, {});
    state.started.set(model.id, performance.now());
    await loadModels();
  } catch (err) {
    button.disabled = false;
    notice(tokenStatus, err instanceof ApiError ? err.message : "Verification could not be restarted.");
  }
}

// --- forms -------------------------------------------------------------------------------------

async function signup(event) {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const errors = localErrors(form);
  if (Object.keys(errors).length) return showErrors(form, errors);
  const button = $("signup-submit");
  button.disabled = true;
  const body = { name: form.elements.name.value };
  if (form.elements.email && form.elements.email.value.trim()) body.email = form.elements.email.value;
  try {
    const created = await json("POST", "/api/v1/owners", body);
    keep(created.token);
    form.reset();
    $("new-token").value = created.token;
    tokenFresh.hidden = false;
    notice(tokenStatus, "");
    showToken();
    $("new-token").focus();
    $("new-token").select();
    await loadModels();
  } catch (err) {
    showErrors(form, err.status === 422 ? fieldErrors(err.message) : { _form: err.message });
  } finally {
    button.disabled = false;
  }
}

async function useToken(event) {
  event.preventDefault();
  const form = event.currentTarget;
  clearErrors(form);
  const token = form.elements.token.value.trim();
  if (!token) return showErrors(form, { token: "Paste your owner token." });
  try {
    await authed(token, "GET", "/api/v1/owners/me/models");
  } catch (err) {
    const message =
      err.status === 401
        ? "This token is not valid: check that you pasted all of it, or get a new one."
        : err.code === "owner_token_required"
          ? "That is not an owner token (the admin token belongs on the admin page)."
          : err.message;
    return showErrors(form, { token: message });
  } finally {
    form.elements.token.value = "";
  }
  keep(token);
  showToken();
  notice(tokenStatus, "");
  await loadModels();
}

async function register(event) {
  event.preventDefault();
  if (state.busy || !state.token) return; // a second submit while one is in flight does nothing
  clearErrors(registerForm);
  const errors = localErrors(registerForm);
  if (Object.keys(errors).length) return showErrors(registerForm, errors);
  const f = registerForm.elements;
  const body = {};
  for (const input of registerForm.querySelectorAll("input[name], select[name]")) {
    if (input.dataset.list) {
      const items = splitList(input.value);
      if (items.length) body[input.name] = items;
    } else if (input.value !== "" || input.required) {
      body[input.name] = input.value;
    }
  }
  f.api_key.value = ""; // read once, never kept in the page
  state.busy = true;
  registerSubmit.disabled = true;
  registerForm.setAttribute("aria-busy", "true");
  registerStatus.textContent = "Registering…";
  const started = performance.now();
  try {
    const accepted = await authed(state.token, "POST", "/api/v1/models", body);
    state.started.set(accepted.id, started);
    registerForm.reset();
    registerStatus.textContent = "Registered. Verification is running: watch it below.";
    await loadModels();
    const card = list.querySelector(`[data-model-card="${accepted.id}"]`);
    if (card) card.focus();
  } catch (err) {
    registerStatus.textContent = "";
    if (err instanceof ApiError && err.status === 401) handleAuthError(err);
    else showErrors(registerForm, err instanceof ApiError ? registrationErrors(err) : { _form: "Something went wrong." });
  } finally {
    state.busy = false;
    registerSubmit.disabled = false;
    registerForm.removeAttribute("aria-busy");
  }
}

async function copyToken() {
  const input = $("new-token");
  input.select();
  try {
    await navigator.clipboard.writeText(input.value);
    $("copy-status").textContent = "Copied to the clipboard.";
  } catch {
    $("copy-status").textContent = "Copying is not allowed here: the token is selected, press Ctrl+C (⌘C).";
  }
}

$("signup").addEventListener("submit", signup);
$("use-token").addEventListener("submit", useToken);
registerForm.addEventListener("submit", register);
$("copy-token").addEventListener("click", copyToken);
$("forget-token").addEventListener("click", () => {
  signedOut("");
  $("new-token").value = "";
  registerStatus.textContent = "The token is forgotten in this browser. It still works wherever you saved it.";
  $("owner-name").focus();
});

showToken();
loadModels();
