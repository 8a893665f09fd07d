// The JSON API as the pages use it: same origin, JSON bodies, the error envelope as Error.
export class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export async function failure(response) {
  let message = `The server answered ${response.status}.`;
  let code = "http_error";
  try {
    const body = await response.json();
    if (body && body.error) {
      message = body.error.message || message;
      code = body.error.code || code;
    }
  } catch {
    // not JSON: keep the generic message
  }
  if (response.status === 429) message = `Too many requests: ${message}`;
  return new ApiError(response.status, message, code);
}

export async function request(method, url, body, accept = "application/json") {
  const init = { method, headers: { Accept: accept }, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, "The server cannot be reached. Check your connection and try again.", "network");
  }
  if (!response.ok) throw await failure(response);
  return response;
}

export async function json(method, url, body) {
  return (await request(method, url, body)).json();
}

// --- Bearer-token calls (owners and admin pages) ---------------------------------------
// The token comes from the page's own storage and goes only in this header: never a cookie.
export async function authed(token, method, url, body) {
  const init = {
    method,
    headers: { Accept: "application/json", Authorization: `Bearer ${token}` },
    credentials: "same-origin",
    cache: "no-store",
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, "The server cannot be reached. Check your connection and try again.", "network");
  }
  if (!response.ok) throw await failure(response);
  return response.json();
}

// A 422's message as the API writes it ("name: too long; base_url: required") → {field: text}.
export function fieldErrors(message) {
  const out = {};
  for (const part of String(message).split("; ")) {
    const match = /^([A-Za-z_]+)(?:\.\d+)?: (.+)$/.exec(part);
    const key = match ? match[1] : "_form";
    const text = match ? match[2] : part;
    out[key] = out[key] ? `${out[key]}; ${text}` : text;
  }
  return out;
}
