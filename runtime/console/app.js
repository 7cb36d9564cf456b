// EdgeTalker console: plain ES module, no build step, no network beyond this device.
import { $, api, fail, node, say, state, t } from "./core.js";
import { loadBench, loadConfig } from "./pages.js";

const PAGES = ["status", "live", "persona", "avatar", "voice", "config", "bench"];

// --- words ----------------------------------------------------------------------------------------

function translatePage() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of document.querySelectorAll("[data-i18n-alt]")) el.alt = t(el.dataset.i18nAlt);
  if (state.device) renderStatus(state.device);
}

// --- login ----------------------------------------------------------------------------------------

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
    ["fact.config", s.config_version || t("none")], ["fact.uptime", duration(s.uptime_s)],
    ...(s.visitor_present === undefined ? [] : [["fact.visitor", t(s.visitor_present ? "yes" : "no")],
      ["fact.visitors_per_hour", String(s.visitors_per_hour ?? 0)]])]);
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

document.addEventListener("voices-changed", () => loadVoices().catch(() => {}));

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
