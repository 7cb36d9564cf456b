// The console's shared parts: words, the API and its errors, messages on the page.
import { STRINGS } from "./i18n.js";

export const $ = (id) => document.getElementById(id);
export const state = { lang: "en", device: null, personas: {}, turns: [], captions: [], events: null, sheetName: null,
  editing: undefined, sampleUrl: null };
// editing: the persona the form shows (undefined: none picked yet, the active one; null: a new one).

// --- words ----------------------------------------------------------------------------------------

export function t(key, vars = {}) {
  const text = (STRINGS[state.lang] || STRINGS.en)[key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

// --- the API --------------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    Object.assign(this, { status, code: error.code || "api-error", hint: error.hint || "", errors: error.errors || [],
      diff: error.diff || [] });
  }
}

export async function api(method, path, body) {
  const options = { method, headers: {} };
  if (body instanceof FormData) options.body = body;
  else if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new ApiError(0, { code: "network", message: t("error.network") });
  }
  if (response.status === 401) showLogin();
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : await response.blob();
  if (!response.ok) throw new ApiError(response.status, data.error || {});
  return data;
}

export function say(el, text, ok = true) {
  el.className = `message ${ok ? "ok" : "bad"}`;
  el.textContent = text;
}

// Error codes that share the console's words with another code.
const SAME_AS = { "api-busy": "busy", "api-stopping": "busy", "command-busy": "busy", "llm-model-missing": "model-missing",
  "model-unknown": "model-missing", "think-persona-in-use": "busy", "persona-invalid": "command-invalid" };

function explain(err) {
  // The operator's words for an error: the console's message for its code, which names what to do
  // here (the API's hints are for API, MQTT and command-line users), else the device's own message.
  if (err.code === "network") return { text: t("error.network"), lines: [] };
  const key = `err.${(SAME_AS[err.code] || err.code || "").replace(/-/g, "_")}`;
  const known = STRINGS.en[key] !== undefined;
  let lines = err.errors || [];
  if ((err.code === "command-invalid" || err.code === "persona-invalid") && err.message.startsWith("bad request: ")) {
    lines = err.message.slice("bad request: ".length).split("; ");
  }
  return { text: known ? t(key, { message: err.message }) : t("err.other", { message: err.message }), lines };
}

export function fail(el, err) {
  const { text, lines } = explain(err);
  el.className = "message bad";
  el.replaceChildren(document.createTextNode(text));
  if (lines.length) {
    const list = document.createElement("ul");
    for (const line of lines) list.append(Object.assign(document.createElement("li"), { textContent: line }));
    el.append(list);
  }
  if (err.code && err.code !== "network") {
    el.append(node("small", { className: "error-code", textContent: t("err.code", { code: err.code }) }));
  }
}

export function node(tag, props = {}, ...children) {
  const el = Object.assign(document.createElement(tag), props);
  el.append(...children);
  return el;
}


export function showLogin() {
  const dialog = $("login");
  if (!dialog.open) dialog.showModal();
}
