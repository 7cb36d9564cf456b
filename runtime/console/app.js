// EdgeTalker console: plain ES module, no build step, no network beyond this device.
import { STRINGS } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const PAGES = ["status", "live", "persona", "avatar", "voice", "config", "bench"];
const state = { lang: "en", device: null, personas: {}, turns: [], captions: [], events: null, sheetName: null };

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
    Object.assign(this, { status, code: error.code || "api-error", hint: error.hint || "", errors: error.errors || [] });
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

function fail(el, err) {
  el.className = "message bad";
  el.replaceChildren(document.createTextNode(`${err.message}${err.hint ? ` — ${err.hint}` : ""}`));
  if (err.errors && err.errors.length) {
    const list = document.createElement("ul");
    for (const line of err.errors) list.append(Object.assign(document.createElement("li"), { textContent: line }));
    el.append(list);
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

const MS = (v) => (v === undefined || v === null ? t("none") : `${Math.round(v)} ms`);

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
    node("span", { textContent: name }), node("span", { className: "age", textContent: `${t(`actor.${a.state}`)} · ${a.beat_age_s} s` }))));
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
    ["fact.threads", String(p.threads ?? t("none"))], ["fact.cpu", p.cpu_s ? `${p.cpu_s} s` : t("none")]]);
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
  return h ? `${h} h ${m} min` : m ? `${m} min ${s % 60} s` : `${s} s`;
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
    svgNode("text", { x: pad, y: 14 }, `${Math.round(top / 1.15)} ms`),
    svgNode("text", { x: W - pad, y: 14, "text-anchor": "end" }, `${Math.round(values.at(-1))} ms`));
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

async function loadPersonas() {
  const data = await api("GET", "/personas");
  state.personas = data.personas;
  const select = $("persona-select");
  select.replaceChildren(...Object.entries(data.personas).map(([id, p]) =>
    node("option", { value: id, textContent: `${p.name} (${id})`, selected: id === data.active })));
  fillPersona(data.active);
}

function fillPersona(id) {
  const p = state.personas[id];
  const form = $("persona-form");
  if (!p) return;
  form.id.value = id;
  for (const key of ["name", "system_prompt", "style", "language", "max_sentences", "emotion", "emotion_intensity"]) {
    form[key].value = p[key] ?? "";
  }
  form.greeting_en.value = (p.greeting || {}).en || "";
  form.greeting_zh.value = (p.greeting || {}).zh || "";
}

$("persona-select").addEventListener("change", (e) => fillPersona(e.target.value));
$("persona-use").addEventListener("click", async () => {
  const id = $("persona-select").value;
  try {
    await api("POST", "/persona", { id });
    say($("persona-use-message"), t("persona.switched", { name: state.personas[id].name }));
  } catch (err) { fail($("persona-use-message"), err); }
});
$("persona-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = event.target;
  const greeting = {};
  if (f.greeting_en.value.trim()) greeting.en = f.greeting_en.value.trim();
  if (f.greeting_zh.value.trim()) greeting.zh = f.greeting_zh.value.trim();
  const persona = { name: f.name.value, system_prompt: f.system_prompt.value, style: f.style.value,
    language: f.language.value, max_sentences: Number(f.max_sentences.value), greeting,
    emotion: f.emotion.value, emotion_intensity: Number(f.emotion_intensity.value) };
  try {
    await api("PUT", `/personas/${encodeURIComponent(f.id.value)}`, persona);
    say($("persona-message"), t("persona.saved"));
    await loadPersonas();
  } catch (err) { fail($("persona-message"), err); }
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
  try {
    const result = await api("POST", "/avatars", new FormData(event.target));
    state.sheetName = result.name;
    $("sheet").src = `${result.sheet}?t=${Date.now()}`;
    $("sheet-figure").hidden = false;
    say($("avatar-message"), t("avatar.enrolled", { name: result.name, px: Math.round(result.head_px) }));
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

function listen(v) {
  // Typed text, else the voice's own language's greeting (the kiosk picks it).
  const text = $("voice-text").value;
  const audio = $("voice-audio");
  audio.hidden = false;
  audio.src = `/voices/sample.wav?id=${encodeURIComponent(v.id)}&text=${encodeURIComponent(text)}`;
  audio.play().catch(() => {});
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
  event.preventDefault();
  const f = event.target;
  let body;
  if (f.format.value === "json") {
    try { body = { json: JSON.parse(f.document.value || "{}"), version: f.version.value }; } catch (err) {
      fail($("config-message"), { message: err.message, hint: "", errors: [] });
      return;
    }
  } else body = { toml: f.document.value, version: f.version.value };
  try {
    const r = await api("PUT", "/config", body);
    say($("config-message"), `${t("config.applied", { version: r.version,
      changed: r.changed.length ? r.changed.join(", ") : t("config.nothing") })}${r.restart ? ` ${t("config.restart")}` : ""}`);
    if (!r.restart) await loadConfig();
  } catch (err) { fail($("config-message"), err); }
});

// --- bench ----------------------------------------------------------------------------------------

async function loadBench() {
  const table = $("bench-table");
  try {
    const data = await api("GET", "/bench/latest");
    $("bench-message").textContent = new Date(data.modified * 1000).toLocaleString(state.lang === "zh" ? "zh-CN" : "en");
    $("bench-message").className = "message";
    const row = (cells, tag = "td") => node("tr", {}, ...cells.map((c) => node(tag, { textContent: c })));
    const value = (v) => (v === null || v === undefined ? t("none") : String(v));
    table.hidden = false;
    table.replaceChildren(row([t("bench.metric"), t("bench.value"), t("bench.target"), ""], "th"),
      ...data.targets.map((r) => {
        const measured = r.value !== null && r.value !== undefined;
        const tr = row([r.metric, value(r.value), String(r.target), measured ? (r.met ? "✓" : "✗") : ""]);
        tr.lastChild.className = r.met ? "met" : "missed";
        return tr;
      }),
      row([t("bench.stages"), "", "", ""], "th"),
      ...Object.entries(data.stages_ms || {}).map(([k, v]) => row([k, value(v), "", ""])));
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
