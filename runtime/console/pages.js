// The config page (merge, or replace with a diff to confirm) and the benchmark page.
import { $, api, fail, node, say, state, t } from "./core.js";
import { STRINGS } from "./i18n.js";

// --- config ---------------------------------------------------------------------------------------

export async function loadConfig() {
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

export async function loadBench() {
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

// --- voice enrollment -----------------------------------------------------------------------------

function base64Of(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

function similarity(sim) {
  const pair = (s) => `${s.dvector.toFixed(3)} / ${s.ge2e.toFixed(3)}`;
  return t("voice.similarity", { held: sim.held_back_s, matched: pair(sim.matched), nearest: sim.nearest.voice,
    nearest_score: pair(sim.nearest), default: sim.default ? sim.default.voice : "-",
    default_score: sim.default ? pair(sim.default) : "-" });
}

$("voice-form").addEventListener("submit", async (event) => {
  // The reply says how close the match came on speech it never searched with; a poor match is
  // not stored and the closer stock or default voice is offered instead.
  event.preventDefault();
  const form = event.target;
  const button = form.querySelector("button");
  const poor = $("voice-poor");
  const offer = $("voice-offer");
  button.disabled = true;
  poor.hidden = offer.hidden = true;
  say($("voice-enroll-message"), t("voice.enrolling"));
  try {
    const body = { name: form.name.value, sample: await base64Of(form.sample.files[0]), replace: form.replace.checked };
    const result = await api("POST", "/voices", body);
    say($("voice-enroll-message"), t(result.stored ? "voice.enrolled" : "voice.not_enrolled", { name: result.name })
      + " " + similarity(result.similarity));
    if (!result.stored) {
      poor.textContent = t("voice.poor", { offer: result.offer });
      poor.hidden = false;
      offer.textContent = t("voice.use_offer", { offer: result.offer });
      offer.onclick = async () => {
        try {
          await api("POST", "/voice", { id: result.offer });
          say($("voice-enroll-message"), t("voice.switched", { name: result.offer }));
          document.dispatchEvent(new Event("voices-changed"));
        } catch (err) { fail($("voice-enroll-message"), err); }
      };
      offer.hidden = false;
    }
    document.dispatchEvent(new Event("voices-changed"));
  } catch (err) { fail($("voice-enroll-message"), err); } finally { button.disabled = false; }
});
