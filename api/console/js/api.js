// The console's only way to the service: the public /v1 API, with the signed-in token.
// The token lives in this tab's sessionStorage (gone when the tab closes); it is sent as an
// Authorization header, never in a URL.

const TOKEN_KEY = "pxl.console.token";
const PROVENANCE_HEADERS = { "x-build-sha": "build", "x-pxl-coqchk": "coqchk", "x-v4-sha": "v4" };

export const provenance = { build: null, coqchk: null, v4: null };
const provenanceListeners = [];

export function onProvenance(listener) {
  provenanceListeners.push(listener);
}

function noteProvenance(headers) {
  let changed = false;
  for (const [header, key] of Object.entries(PROVENANCE_HEADERS)) {
    const value = headers.get(header);
    if (value !== null && value !== provenance[key]) {
      provenance[key] = value;
      changed = true;
    }
  }
  if (changed) provenanceListeners.forEach((listener) => listener(provenance));
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value.trim());
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** The claims of the signed-in token (not verified here: the server does that). */
export function tokenClaims() {
  const raw = token();
  if (!raw) return null;
  try {
    const part = raw.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
  } catch {
    return null;
  }
}

function authHeaders(extra = {}) {
  const headers = { ...extra };
  const current = token();
  if (current) headers.Authorization = `Bearer ${current}`;
  return headers;
}

/**
 * Call the API. Resolves to {status, ok, data, problem, headers}: `data` is the parsed JSON
 * body (or text), `problem` the RFC 9457 problem when the answer is one.
 */
export async function call(path, { method = "GET", json, headers = {}, form } = {}) {
  // No cookies or HTTP credentials: the bearer token is the only credential, and without
  // them a 401 with `WWW-Authenticate: Basic` (the token endpoint's) opens no browser dialog.
  const init = { method, headers: authHeaders(headers), credentials: "omit" };
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  } else if (form !== undefined) {
    init.headers["Content-Type"] = "application/x-www-form-urlencoded";
    init.body = new URLSearchParams(form).toString();
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    return { status: 0, ok: false, data: null, headers: new Headers(),
      problem: { title: "Network error", detail: String(error) } };
  }
  noteProvenance(response.headers);
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  const problem = type.includes("problem+json") ? data : null;
  return { status: response.status, ok: response.ok, data, problem, headers: response.headers };
}

/** A one-line description of a failed call. */
export function describeFailure(result) {
  if (result.problem) return `${result.problem.title}: ${result.problem.detail || ""}`.trim();
  if (result.data && result.data.error_description) return result.data.error_description;
  if (result.status === 0) return result.problem.detail;
  return `HTTP ${result.status}`;
}

/** Sign in with client credentials (POST /v1/auth/token); returns an error text or null. */
export async function signInWithClient(clientId, secret) {
  const result = await call("/v1/auth/token", {
    method: "POST",
    form: { grant_type: "client_credentials", client_id: clientId, client_secret: secret },
  });
  if (!result.ok) return describeFailure(result);
  setToken(result.data.access_token);
  return null;
}

/**
 * Follow a job's server-sent events with fetch (EventSource cannot send the Authorization
 * header). Calls onEvent({id, event, data}) per event; resolves when the stream ends, resuming
 * with Last-Event-ID if the connection drops before the final event.
 */
export async function followEvents(path, onEvent, { signal, isFinal } = {}) {
  let lastId = null;
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const headers = authHeaders({ Accept: "text/event-stream" });
    if (lastId) headers["Last-Event-ID"] = lastId;
    let response;
    try {
      response = await fetch(path, { headers, signal, credentials: "omit" });
    } catch (error) {
      if (signal && signal.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, 1000));
      continue;
    }
    noteProvenance(response.headers);
    if (!response.ok) return;
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let finished = false;
    for (;;) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch {
        break;
      }
      if (chunk.done) break;
      buffer += chunk.value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const frame = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const event = { id: null, event: "message", data: "" };
        for (const line of frame.split("\n")) {
          if (line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "id") event.id = value;
          else if (field === "event") event.event = value;
          else if (field === "data") event.data += value;
        }
        if (!event.data) continue;
        lastId = event.id || lastId;
        event.data = JSON.parse(event.data);
        onEvent(event);
        if (isFinal && isFinal(event)) finished = true;
      }
    }
    if (finished || !isFinal) return;
  }
}

export function formatMs(ms) {
  if (ms === null || ms === undefined) return "–";
  return ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** Create an element: el("div", {class: "x", text: "hi"}, child, ...). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, attributes = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  children.flat().forEach((child) => child && node.append(child));
  return node;
}
