// EdgeTalker console: plain ES module, no build step, no network beyond this device.
import { STRINGS } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const PAGES = ["status", "live", "persona", "avatar", "voice", "config", "bench"];
const state = { lang: "en", device: null, personas: {}, turns: [], captions: [], events: null, sheetName: null,
  editing: undefined, sampleUrl: null };
// editing: the persona the form shows (undefined: none picked yet, the active one; null: a new one).

// --- words ----------------------------------------------------------------------------------------

function t(key, vars = {}) {
  const text = (STRINGS[state.lang] || STRINGS.en)[key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

function translatePage() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of document.querySelectorAll("[data-i18n-alt]")) el.alt = t(el.dataset.i18nAlt);
  if (state.device) renderStatus(state.device);
}

// --- the API --------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, error) {
    super(error.message || `HTTP ${status}`);
    Object.assign(this, { status, code: error.code || "api-error", hint: error.hint || "", errors: error.errors || [],
      diff: error.diff || [] });
  }
}

async function api(method, path, body) {
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

function say(el, text, ok = true) {
  el.className = `message ${ok ? "ok" : "bad"}`;
  el.textContent = text;
}

// Error codes that share the console's words with another code.
const SAME_AS = { "api-busy": "busy", "api-stopping": "busy", "command-busy": "busy", "llm-model-missing": "model-missing",
  "model-unknown": "model-missing", "think-persona-in-use": "busy" };

function explain(err) {
  // The operator's words for an error: the console's message for its code, which names what to do
  // here (the API's hints are for API, MQTT and command-line users), else the device's own message.
  if (err.code === "network") return { text: t("error.network"), lines: [] };
  const key = `err.${(SAME_AS[err.code] || err.code || "").replace(/-/g, "_")}`;
  const known = STRINGS.en[key] !== undefined;
  let lines = err.errors || [];
  if (err.code === "command-invalid" && err.message.startsWith("bad request: ")) {
    lines = err.message.slice("bad request: ".length).split("; ");
  }
  return { text: known ? t(key, { message: err.message }) : t("err.other", { message: err.message }), lines };
}

function fail(el, err) {
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

function node(tag, props = {}, ...children) {
  const el = Object.assign(document.createElement(tag), props);
  el.append(...children);
  return el;
}

// --- login ----------------------------------------------------------------------------------------

function showLogin() {
  const dialog = $("login");
  if (!dialog.open) dialog.showModal();
}

$("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("POST", "/session", { token: $("login-token").value });
    $("login").close();
    start();
  } catch (err) {
    say($("login-message"), t("login.wrong"), false);
  }
});

// --- pages ----------------------------------------------------------------------------------------

function showPage() {
  const name = PAGES.includes(location.hash.slice(1)) ? location.hash.slice(1) : "status";
  for (const page of PAGES) $(`page-${page}`).classList.toggle("active", page === name);
  for (const link of document.querySelectorAll("#tabs a")) link.classList.toggle("active", link.hash === `#${name}`);
  // The face streams only while its page is open.
  const face = $("live-face");
  if (name === "live" && !face.src.includes("live.mjpeg")) face.src = `/live.mjpeg?t=${Date.now()}`;
  if (name !== "live" && face.src) face.removeAttribute("src");
  if (name === "status") drawChart();
  const load = { persona: loadPersonas, avatar: loadAvatars, voice: loadVoices, config: loadConfig, bench: loadBench };
  if (load[name]) load[name]().catch(() => {});
}

// --- status ---------------------------------------------------------------------------------------

const MS = (v) => (v === undefined || v === null ? t("none") : `${Math.round(v)} ${t("unit.ms")}`);

function facts(el, rows) {
  el.replaceChildren(...rows.flatMap(([key, value]) => [node("dt", { textContent: t(key) }),
    node("dd", { textContent: value })]));
}

function renderStatus(s) {
  state.device = s;
  $("device-name").textContent = s.device || "";
  const ok = s.health && s.health.ok;
  $("online-dot").className = `dot ${ok ? "ok" : "warn"}`;
  const summary = $("health-summary");
  summary.textContent = t(ok ? "status.ok" : "status.not_ok");
  summary.className = `big ${ok ? "ok" : "bad"}`;
  $("actors").replaceChildren(...Object.entries(s.health.actors).map(([name, a]) => node("li", {},
    node("span", { className: `dot ${a.state === "ready" ? "ok" : a.state === "failed" ? "bad" : "warn"}` }),
    node("span", { textContent: name }), node("span", { className: "age", textContent: `${t(`actor.${a.state}`)} · ${a.beat_age_s} ${t("unit.s")}` }))));
  facts($("facts"), [["fact.persona", s.persona], ["fact.avatar", s.avatar], ["fact.voice", s.voice],
    ["fact.volume", `${Math.round(s.volume * 100)} %`], ["fact.muted", t(s.muted ? "yes" : "no")],
    ["fact.config", s.config_version || t("none")], ["fact.uptime", duration(s.uptime_s)]]);
  const last = s.last_turn || {};
  facts($("last-turn"), [["fact.v2v", MS(last.voice_to_voice_ms)], ["fact.say", MS(last.say_to_audio_ms)],
    ["fact.first_chunk", MS(last.first_chunk_ms)], ["fact.barge_ins", String(s.barge_ins ?? 0)]]);
  if (last.turn !== undefined) addTurn(last);
  $("models").replaceChildren(...(s.models || []).map((m) => node("li", { textContent: m })));
  const p = s.process || {};
  facts($("process"), [["fact.rss", p.rss_mb ? `${Math.round(p.rss_mb)} MB` : t("none")],
    ["fact.peak", p.peak_rss_mb ? `${Math.round(p.peak_rss_mb)} MB` : t("none")],
    ["fact.threads", String(p.threads ?? t("none"))], ["fact.cpu", p.cpu_s ? `${p.cpu_s} ${t("unit.s")}` : t("none")]]);
  if (document.activeElement !== $("volume")) $("volume").value = s.volume;
  $("mute").checked = !!s.muted;
  $("captions-off").hidden = !!s.captions;
  if (s.said && !state.captions.length) {
    for (const who of ["visitor", "avatar"]) if (s.said[who]) addCaption({ who, text: s.said[who], turn: -1 });
  }
}

function duration(seconds) {
  const s = Math.floor(seconds || 0);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  const [uh, um, us] = [t("unit.h"), t("unit.min"), t("unit.s")];
  return h ? `${h} ${uh} ${m} ${um}` : m ? `${m} ${um} ${s % 60} ${us}` : `${s} ${us}`;
}

function addTurn(turn) {
  const value = turn.voice_to_voice_ms ?? turn.say_to_audio_ms;
  if (value === undefined || state.turns.some((x) => x.turn === turn.turn)) return;
  state.turns.push({ turn: turn.turn, ms: value });
  state.turns = state.turns.slice(-30);
  drawChart();
}

function drawChart() {
  const svg = $("chart"), W = Math.max(svg.clientWidth, 200), H = 180, pad = 28;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);  // one user unit per pixel: text is never stretched
  const values = state.turns.map((x) => x.ms);
  if (!values.length) {
    svg.replaceChildren(svgNode("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, t("chart.empty")));
    return;
  }
  const top = Math.max(...values) * 1.15 || 1;
  const x = (i) => pad + (values.length === 1 ? (W - 2 * pad) / 2 : (i * (W - 2 * pad)) / (values.length - 1));
  const y = (v) => H - pad - (v / top) * (H - 2 * pad);
  const points = values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
  svg.replaceChildren(
    svgNode("line", { x1: pad, y1: H - pad, x2: W - pad, y2: H - pad, class: "axis" }),
    svgNode("polygon", { points: `${x(0)},${H - pad} ${points} ${x(values.length - 1)},${H - pad}`, class: "area" }),
    svgNode("polyline", { points, class: "line" }),
    ...values.map((v, i) => svgNode("circle", { cx: x(i), cy: y(v), r: 4, class: "point" })),
    svgNode("text", { x: pad, y: 14 }, `${Math.round(top / 1.15)} ${t("unit.ms")}`),
    svgNode("text", { x: W - pad, y: 14, "text-anchor": "end" }, `${Math.round(values.at(-1))} ${t("unit.ms")}`));
}

function svgNode(tag, attrs, text) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text) el.textContent = text;
  return el;
}

// --- events ---------------------------------------------------------------------------------------

function connectEvents() {
  if (state.events) state.events.close();
  const source = (state.events = new EventSource("/events"));
  source.addEventListener("state", (e) => renderStatus(JSON.parse(e.data)));
  source.addEventListener("turn", (e) => addTurn(JSON.parse(e.data)));
  source.addEventListener("caption", (e) => addCaption(JSON.parse(e.data)));
  source.onerror = () => {
    $("online-dot").className = "dot bad";
    $("health-summary").textContent = t("status.offline");
    $("health-summary").className = "big bad";
  };
}

function addCaption(c) {
  state.captions.push(c);
  state.captions = state.captions.slice(-50);
  $("captions-off").hidden = true;
  const list = $("captions");
  list.append(node("li", {}, node("span", { className: `who ${c.who}`, textContent: t(`who.${c.who}`) }),
    node("span", { className: "text", textContent: c.text })));
  while (list.children.length > 50) list.firstChild.remove();
  list.scrollTop = list.scrollHeight;
}

// --- live -----------------------------------------------------------------------------------------

$("say-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("POST", "/say", { text: $("say-text").value });
    say($("live-message"), t("live.sent"));
    $("say-text").value = "";
  } catch (err) { fail($("live-message"), err); }
});
$("interrupt").addEventListener("click", () => api("POST", "/interrupt", {}).catch((err) => fail($("live-message"), err)));
$("mute").addEventListener("change", (e) => api("POST", "/mute", { on: e.target.checked }).catch((err) => fail($("live-message"), err)));
$("volume").addEventListener("change", (e) => api("POST", "/volume", { level: Number(e.target.value) })
  .catch((err) => fail($("live-message"), err)));

// --- persona --------------------------------------------------------------------------------------

const PERSONA_FIELDS = ["name", "system_prompt", "style", "language", "max_sentences", "emotion", "emotion_intensity"];
const NEW_PERSONA = { name: "", system_prompt: "", style: "", language: "match", max_sentences: 3, emotion: "neutral",
  emotion_intensity: 0.3, greeting: {} };

async function loadPersonas(show) {
  // The list, and the form on `show`, else on what it was editing (a new persona is left as typed).
  const data = await api("GET", "/personas");
  state.personas = data.personas;
  if (show !== undefined) state.editing = show;
  else if (state.editing !== null && !(state.editing in data.personas)) state.editing = undefined;
  const shown = state.editing ?? data.active;
  $("persona-select").replaceChildren(...Object.entries(data.personas).map(([id, p]) => node("option", {
    value: id, selected: id === shown,
    textContent: `${p.name} (${id})${id === data.active ? ` · ${t("persona.active_tag")}` : ""}` })));
  if (state.editing !== null) fillPersona(shown);
}

function fillPersona(id) {
  const p = id === null ? NEW_PERSONA : state.personas[id];
  const form = $("persona-form");
  if (!p) return;
  state.editing = id;
  form.id.value = id ?? "";
  form.id.readOnly = id !== null;  // an existing persona keeps its id; "New persona" starts a new one
  for (const key of PERSONA_FIELDS) form[key].value = p[key] ?? NEW_PERSONA[key];
  form.greeting_en.value = (p.greeting || {}).en || "";
  form.greeting_zh.value = (p.greeting || {}).zh || "";
  $("persona-form-title").textContent = id === null ? t("persona.new") : `${p.name} (${id})`;
}

function personaValues(f) {
  return { name: f.name.value, system_prompt: f.system_prompt.value, style: f.style.value, language: f.language.value,
    max_sentences: Number(f.max_sentences.value), emotion: f.emotion.value,
    emotion_intensity: Number(f.emotion_intensity.value),
    greeting: { en: f.greeting_en.value.trim(), zh: f.greeting_zh.value.trim() } };
}

function personaChanges(old, now) {
  // Exactly what the operator changed; a cleared greeting is removed (null), everything else stays.
  const patch = {};
  for (const key of PERSONA_FIELDS) if (now[key] !== (old[key] ?? NEW_PERSONA[key])) patch[key] = now[key];
  for (const lang of ["en", "zh"]) {
    const was = (old.greeting || {})[lang] || "";
    if (now.greeting[lang] !== was) (patch.greeting ||= {})[lang] = now.greeting[lang] || null;
  }
  return patch;
}

$("persona-select").addEventListener("change", (e) => fillPersona(e.target.value));
$("persona-new").addEventListener("click", () => {
  fillPersona(null);
  say($("persona-message"), "");
  $("persona-form").id.focus();
});
$("persona-use").addEventListener("click", async () => {
  const id = $("persona-select").value;
  try {
    await api("POST", "/persona", { id });
    say($("persona-use-message"), t("persona.switched", { name: state.personas[id].name }));
    await loadPersonas(id);
  } catch (err) { fail($("persona-use-message"), err); }
});
$("persona-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = event.target, message = $("persona-message"), values = personaValues(f);
  try {
    if (state.editing) {
      const id = state.editing, patch = personaChanges(state.personas[id], values);
      if (!Object.keys(patch).length) return say(message, t("persona.nothing"));
      await api("PATCH", `/personas/${encodeURIComponent(id)}`, patch);
      say(message, t("persona.saved"));
      await loadPersonas(id);
      return;
    }
    const id = f.id.value.trim();
    if (id in state.personas) return say(message, t("persona.exists", { id }), false);
    const greeting = Object.fromEntries(Object.entries(values.greeting).filter(([, text]) => text));
    await api("PUT", `/personas/${encodeURIComponent(id)}`, { ...values, greeting });
    say(message, t("persona.created", { name: values.name }));
    await loadPersonas(id);
  } catch (err) { fail(message, err); }
});

// --- avatar ---------------------------------------------------------------------------------------

async function loadAvatars() {
  const data = await api("GET", "/avatars");
  $("avatar-list").replaceChildren(...data.avatars.map((name) => {
    const shown = name === data.active;
    const actions = node("span", { className: "actions" });
    if (!shown) {
      actions.append(node("button", { type: "button", className: "small", textContent: t("avatar.use"),
        onclick: () => useAvatar(name, $("avatar-list-message")) }),
      node("button", { type: "button", className: "small secondary", textContent: t("avatar.delete"),
        onclick: () => deleteAvatar(name) }));
    }
    return node("li", {}, node("span", { textContent: name }),
      node("span", { className: `tag ${shown ? "on" : ""}`, textContent: shown ? t("avatar.shown") : "" }), actions);
  }));
}

async function useAvatar(name, el) {
  try {
    await api("POST", "/avatar", { name });
    say(el, t("avatar.switched", { name }));
    await loadAvatars();
  } catch (err) { fail(el, err); }
}

async function deleteAvatar(name) {
  try {
    await api("DELETE", `/avatars/${encodeURIComponent(name)}`);
    say($("avatar-list-message"), t("avatar.deleted", { name }));
    await loadAvatars();
  } catch (err) { fail($("avatar-list-message"), err); }
}

$("avatar-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const button = event.target.querySelector("button");
  button.disabled = true;
  $("sheet-figure").hidden = true;
  say($("avatar-message"), t("avatar.uploading"));
  const warning = $("avatar-warning");
  warning.hidden = true;
  try {
    const result = await api("POST", "/avatars", new FormData(event.target));
    state.sheetName = result.name;
    $("sheet").src = `${result.sheet}?t=${Date.now()}`;
    $("sheet-figure").hidden = false;
    const vars = { name: result.name, px: Math.round(result.head_px) };
    say($("avatar-message"), t(result.replaced ? "avatar.replaced" : "avatar.enrolled", vars));
    const warnings = (result.warnings || []).map((w) => (w.code === "avatar-several-faces"
      ? t("avatar.several_faces", { faces: w.faces }) : w.message));
    warning.textContent = warnings.join(" ");
    warning.hidden = !warnings.length;
    await loadAvatars();
  } catch (err) { fail($("avatar-message"), err); } finally { button.disabled = false; }
});
$("sheet-use").addEventListener("click", () => useAvatar(state.sheetName, $("avatar-message")));

// --- voice ----------------------------------------------------------------------------------------

async function loadVoices() {
  const data = await api("GET", "/voices");
  const inUse = new Set(Object.values(data.active_by_language || { en: data.active }));
  $("voice-list").replaceChildren(...data.voices.map((v) => {
    const used = inUse.has(v.id);
    return node("li", {}, node("span", { textContent: v.description || v.id, title: v.id }),
      node("span", { className: `tag ${used ? "on" : ""}`,
        textContent: used ? t("voice.in_use") : v.installed ? t(`lang.${v.language}`) : t("voice.not_installed") }),
      node("span", { className: "actions" },
        node("button", { type: "button", className: "small secondary", textContent: t("voice.listen"),
          disabled: !v.installed, onclick: () => listen(v) }),
        node("button", { type: "button", className: "small", textContent: t("voice.use"), disabled: used || !v.installed,
          onclick: () => useVoice(v) })));
  }));
}

async function listen(v) {
  // Typed text, else the voice's own language's sample sentence (the kiosk picks it).
  const text = $("voice-text").value;
  const audio = $("voice-audio");
  try {
    const wav = await api("GET", `/voices/sample.wav?id=${encodeURIComponent(v.id)}&text=${encodeURIComponent(text)}`);
    if (state.sampleUrl) URL.revokeObjectURL(state.sampleUrl);
    state.sampleUrl = URL.createObjectURL(wav);
    audio.hidden = false;
    audio.src = state.sampleUrl;
    say($("voice-message"), "");
    audio.play().catch(() => {});
  } catch (err) { fail($("voice-message"), err); }
}

async function useVoice(v) {
  try {
    await api("POST", "/voice", { id: v.id });
    say($("voice-message"), t("voice.switched", { name: v.description || v.id }));
    await loadVoices();
  } catch (err) { fail($("voice-message"), err); }
}

// --- config ---------------------------------------------------------------------------------------

async function loadConfig() {
  const data = await api("GET", "/config");
  const form = $("config-form");
  form.format.value = "json";
  form.document.value = JSON.stringify(data.applied || {}, null, 2);
  form.version.value = data.version || "";
  $("config-in-force").textContent = JSON.stringify(data.config, null, 2);
}

$("config-form").addEventListener("submit", async (event) => {
  // A partial document is merged (only the keys it names change); with "replace" the document
  // replaces what was applied. Either way, a change that removes or reverts settings is shown as
  // a diff first and goes ahead only when the operator confirms it.
  event.preventDefault();
  const f = event.target, message = $("config-message");
  hideDiff();
  let body;
  if (f.format.value === "json") {
    try { body = { json: JSON.parse(f.document.value || "{}"), version: f.version.value }; } catch (err) {
      fail(message, { code: "config-json", message: err.message });
      return;
    }
  } else body = { toml: f.document.value, version: f.version.value };
  try {
    if (f.replace.checked) {
      const plan = await api("PUT", "/config", { ...body, dry_run: true });
      if (plan.needs_confirm) return showDiff(plan.diff, () => sendConfig("PUT", body));
      return await sendConfig("PUT", body);
    }
    await sendConfig("PATCH", body);
  } catch (err) {
    if (err.code === "config-confirm-needed") return showDiff(err.diff, () => sendConfig("PATCH", { ...body, confirm: true }));
    fail(message, err);
  }
});

async function sendConfig(method, body) {
  const r = await api(method, "/config", body);
  say($("config-message"), `${t("config.applied", { version: r.version,
    changed: r.changed.length ? r.changed.join(", ") : t("config.nothing") })}${r.restart ? ` ${t("config.restart")}` : ""}`);
  if (!r.restart) await loadConfig();
}

function showDiff(entries, go) {
  const risky = entries.filter((e) => e.kind === "removed" || e.kind === "reverted");
  const shown = (v) => (v === null || v === undefined ? t("config.absent") : JSON.stringify(v));
  say($("config-message"), "");
  $("config-diff-title").textContent = t("config.confirm_title", { n: risky.length });
  $("config-diff-table").replaceChildren(...entries.map((e) => {
    const tr = node("tr", { className: `kind-${e.kind}` }, node("td", { className: "code", textContent: e.path }),
      node("td", { textContent: t(`config.kind_${e.kind}`) }), node("td", { className: "code", textContent: shown(e.before) }),
      node("td", { className: "code", textContent: shown(e.after) }));
    return tr;
  }));
  $("config-diff").hidden = false;
  $("config-confirm").onclick = async () => {
    hideDiff();
    try { await go(); } catch (err) { fail($("config-message"), err); }
  };
  $("config-cancel").onclick = () => {
    hideDiff();
    say($("config-message"), t("config.cancelled"));
  };
}

function hideDiff() {
  $("config-diff").hidden = true;
}

// --- bench ----------------------------------------------------------------------------------------

function metricName(kind, key) {
  // The metric in the operator's language, with its key in the report (report.json) beside it.
  const name = `${kind}.${key.replace(/\./g, "_")}`;
  const label = STRINGS.en[name] !== undefined ? t(name) : key;
  return node("span", {}, label, " ", node("small", { className: "code muted", textContent: key }));
}

function withUnit(metric, v) {
  if (v === null || v === undefined) return t("none");
  const base = metric.split(".")[0];
  const unit = base.endsWith("_ms") ? t("unit.ms") : base.endsWith("_s") ? t("unit.s") : base.endsWith("_mb")
    ? t("unit.mb") : base.endsWith("_fps") ? t("unit.fps") : "";
  return unit ? `${v} ${unit}` : String(v);
}

async function loadBench() {
  const table = $("bench-table");
  try {
    const data = await api("GET", "/bench/latest");
    $("bench-message").textContent = new Date(data.modified * 1000).toLocaleString(state.lang === "zh" ? "zh-CN" : "en");
    $("bench-message").className = "message";
    const row = (cells, tag = "td") => node("tr", {}, ...cells.map((c) => node(tag, { textContent: c })));
    table.hidden = false;
    table.replaceChildren(row([t("bench.metric"), t("bench.value"), t("bench.target"), ""], "th"),
      ...data.targets.map((r) => {
        const measured = r.value !== null && r.value !== undefined;
        const tr = row(["", withUnit(r.metric, r.value), withUnit(r.metric, r.target), measured ? (r.met ? "✓" : "✗") : ""]);
        tr.firstChild.append(metricName("metric", r.metric));
        tr.lastChild.className = r.met ? "met" : "missed";
        return tr;
      }),
      row([t("bench.stages"), "", "", ""], "th"),
      ...Object.entries(data.stages_ms || {}).map(([k, v]) => {
        const tr = row(["", withUnit("_ms", v), "", ""]);
        tr.firstChild.append(metricName("stage", k));
        return tr;
      }));
    const img = $("bench-timeline");
    img.hidden = !data.timeline;
    if (data.timeline) img.src = `${data.timeline}?t=${data.modified}`;
  } catch (err) {
    table.replaceChildren();
    table.hidden = true;
    $("bench-timeline").hidden = true;
    fail($("bench-message"), err);
  }
}

// --- start ----------------------------------------------------------------------------------------

state.lang = localStorage.getItem("edge-talker-lang") || ((navigator.language || "en").startsWith("zh") ? "zh" : "en");
$("lang").value = state.lang;
$("lang").addEventListener("change", (e) => {
  state.lang = e.target.value;
  localStorage.setItem("edge-talker-lang", state.lang);
  translatePage();
  drawChart();
  showPage();
});
window.addEventListener("resize", drawChart);
window.addEventListener("hashchange", showPage);
translatePage();
drawChart();

async function start() {
  // The first request tells whether the device wants its token (401: the login dialog opens).
  try {
    $("device-name").textContent = (await api("GET", "/status")).device;
  } catch (err) {
    if (err.status !== 401) $("online-dot").className = "dot bad";
    return;
  }
  showPage();
  connectEvents();
}

start();
