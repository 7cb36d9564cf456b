"""The console never damages what the operator did not touch (issue #35), in headless Chromium
against the real API of an in-process kiosk, plus the API-level checks that are cheaper there:
a persona save changes only what the form changed; the form stays on the persona it saved; a
partial config is merged and anything that removes or reverts settings is shown as a diff and
waits for a confirmation; voice previews reuse their engines (no libespeak-ng copy per click,
flat memory); errors speak the operator's language and name the console's fix; an avatar can be
replaced; a two-face photo's warning reaches the page; a favicon."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pytest

from tests.conftest import REPO, wait_for
from tests.kiosk import ApiKiosk, go, open_console

PORTRAITS = REPO / "tests" / "data" / "portraits"
FACTS = "Open 9:00-17:00 every day except Monday. The cafe is on floor 2."
ADA = {"name": "Ada", "system_prompt": "You are Ada, the curator of this museum.", "style": "Calm.",
       "greeting": {"en": "Welcome, I'm Ada.", "zh": "欢迎，我是艾达。"}, "facts": FACTS,
       "voices": {"zh": "zf_xiaobei"}, "safety": {"lost_child": {"en": "Please stay here, staff are coming."}}}
MANDARIN_VOICES = ["zf_xiaobei", "zf_xiaoni", "zm_yunxi"]


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory, default_avatar):
    the_kiosk = ApiKiosk(tmp_path_factory.mktemp("operator-kiosk"), default_avatar)
    the_kiosk.bench.mkdir()
    report = {"voice_to_voice_ms": {"p50": 1417.0, "p95": 1596.0, "n": 5}, "barge_in_ms": 253.0,
              "render_fps": 30.0, "av_offset_ms": -11.0, "peak_rss_mb": 1823.0, "cold_start_s": 4.9,
              "stages_ms": {"vad_endpoint": 616.0, "final_transcript": 929.0}}
    (the_kiosk.bench / "report.json").write_text(json.dumps(report))
    try:
        yield the_kiosk
    finally:
        the_kiosk.close()


@pytest.fixture
def page(browser, kiosk):
    the_page = open_console(browser, kiosk)
    the_page.set_default_timeout(15_000)
    yield the_page
    the_page.close()


def put_persona(kiosk, pid: str, persona: dict) -> None:
    assert kiosk.http("PUT", f"/personas/{pid}", persona).status == 200


def persona(kiosk, pid: str) -> dict:
    return kiosk.http("GET", f"/personas/{pid}").json


# --- 1. a persona save changes only what the form changed ------------------------------------


def test_a_style_edit_in_the_console_keeps_facts_pinned_voices_and_safety_replies(page, kiosk):
    put_persona(kiosk, "curator", ADA)
    go(page, "persona")
    page.wait_for_selector("#persona-select option[value=curator]", state="attached")
    page.select_option("#persona-select", "curator")
    page.fill("#persona-form [name=style]", "Calm and precise.")
    page.click("#persona-form button[type=submit]")
    page.wait_for_selector("#persona-message.ok")
    after = persona(kiosk, "curator")
    assert after["style"] == "Calm and precise."
    assert after["facts"] == FACTS, "the facts the form does not show were deleted"
    assert after["voices"] == {"zh": "zf_xiaobei"} and after["safety"] == ADA["safety"]
    assert after["greeting"] == ADA["greeting"] and after["name"] == "Ada"


def test_patch_changes_only_the_fields_sent(kiosk):
    put_persona(kiosk, "patched", ADA)
    reply = kiosk.http("PATCH", "/personas/patched", {"max_sentences": 2, "greeting": {"zh": None}})
    assert reply.status == 200, reply.json
    after = persona(kiosk, "patched")
    assert after["max_sentences"] == 2 and after["greeting"] == {"en": ADA["greeting"]["en"]}
    assert after["facts"] == FACTS and after["voices"] == ADA["voices"] and after["style"] == ADA["style"]
    bad = kiosk.http("PATCH", "/personas/patched", {"max_sentences": 50})
    assert bad.status == 400 and bad.code == "command-invalid" and "max_sentences" in bad.json["error"]["message"]
    assert persona(kiosk, "patched")["max_sentences"] == 2  # nothing changed on error
    missing = kiosk.http("PATCH", "/personas/nobody", {"style": "x"})
    assert missing.status == 404 and missing.code == "think-unknown-persona"


# --- 2. the form stays on what was edited; a new persona starts empty ------------------------


def test_after_save_the_form_stays_on_the_edited_persona_and_a_new_one_starts_empty(page, kiosk):
    put_persona(kiosk, "host", {**ADA, "name": "Bo", "greeting": {"en": "Hi, I'm Bo."}})
    active = kiosk.http("GET", "/state").json["persona"]
    before_active = persona(kiosk, active)
    go(page, "persona")
    page.wait_for_selector("#persona-select option[value=host]", state="attached")
    page.select_option("#persona-select", "host")
    page.fill("#persona-form [name=style]", "Cheerful.")
    page.click("#persona-form button[type=submit]")
    page.wait_for_selector("#persona-message.ok")
    page.wait_for_function("document.querySelector('#persona-select').value === 'host'")
    assert page.input_value("#persona-form [name=id]") == "host"
    assert page.input_value("#persona-form [name=name]") == "Bo"
    page.fill("#persona-form [name=max_sentences]", "4")  # a second save goes to the same persona
    page.click("#persona-form button[type=submit]")
    page.wait_for_function("document.querySelector('#persona-message').textContent.includes('Saved')")
    assert wait_for(lambda: persona(kiosk, "host")["max_sentences"] == 4, 10)
    assert persona(kiosk, "host")["style"] == "Cheerful."
    assert persona(kiosk, active) == before_active, "the active persona was overwritten"
    page.click("#persona-new")
    for field in ("id", "name", "system_prompt", "greeting_en", "greeting_zh", "style"):
        assert page.input_value(f"#persona-form [name={field}]") == "", field
    assert page.is_editable("#persona-form [name=id]")
    page.fill("#persona-form [name=id]", "host")  # an id that exists is not overwritten from "new"
    page.fill("#persona-form [name=name]", "Other")
    page.fill("#persona-form [name=system_prompt]", "Someone else.")
    page.click("#persona-form button[type=submit]")
    page.wait_for_selector("#persona-message.bad")
    assert persona(kiosk, "host")["name"] == "Bo"


# --- 3. config: merge, and a diff to confirm before anything is removed ----------------------


def test_config_apply_merges_a_partial_document_and_asks_before_removing(page, kiosk):
    extra = {"name": "Cy", "system_prompt": "You are Cy.", "facts": FACTS}
    assert kiosk.http("PUT", "/config", {"json": {"play": {"volume": 0.5}, "personas": {"extra": extra}},
                                         "version": "base"}).status == 200
    go(page, "config")
    page.wait_for_function("document.querySelector('#config-form [name=version]').value === 'base'")
    page.fill("#config-form [name=version]", "v2")
    page.fill("#config-form [name=document]", '{"play": {"volume": 0.8}}')
    page.click("#config-form button[type=submit]")
    page.wait_for_selector("#config-message.ok")
    config = kiosk.http("GET", "/config").json
    assert config["version"] == "v2" and config["applied"]["play"]["volume"] == 0.8
    assert config["applied"]["personas"]["extra"]["facts"] == FACTS, "the partial document deleted a persona"
    # Replacing the whole document would drop the persona: a diff first, nothing changed yet.
    page.check("#config-form [name=replace]")
    page.fill("#config-form [name=version]", "v3")
    page.fill("#config-form [name=document]", '{"play": {"volume": 0.7}}')
    page.click("#config-form button[type=submit]")
    page.wait_for_selector("#config-diff:not([hidden])")
    diff = page.inner_text("#config-diff")
    assert "personas.extra.name" in diff and "removed" in diff
    assert kiosk.http("GET", "/config").json["version"] == "v2"
    page.click("#config-cancel")
    page.wait_for_selector("#config-diff", state="hidden")
    assert "Nothing was changed" in page.inner_text("#config-message")
    page.click("#config-form button[type=submit]")
    page.click("#config-confirm")
    page.wait_for_selector("#config-message.ok")
    config = kiosk.http("GET", "/config").json
    assert config["version"] == "v3" and "extra" not in config["config"]["personas"]
    kiosk.http("PUT", "/config", {"json": {}, "version": "reset"})


def test_a_merge_that_removes_needs_confirm_and_a_dry_run_changes_nothing(kiosk):
    extra = {"name": "Cy", "system_prompt": "You are Cy."}
    assert kiosk.http("PUT", "/config", {"json": {"personas": {"extra": extra}}, "version": "a"}).status == 200
    refused = kiosk.http("PATCH", "/config", {"json": {"personas": {"extra": None}}, "version": "b"})
    assert refused.status == 409 and refused.code == "config-confirm-needed"
    assert {"path": "personas.extra.name", "kind": "removed", "before": "Cy", "after": None} \
        in refused.json["error"]["diff"]
    plan = kiosk.http("PUT", "/config", {"json": {}, "version": "c", "dry_run": True}).json
    assert plan["needs_confirm"] and plan["dry_run"]
    assert kiosk.http("GET", "/config").json["version"] == "a"
    done = kiosk.http("PATCH", "/config", {"json": {"personas": {"extra": None}}, "version": "b", "confirm": True})
    assert done.status == 200 and "extra" not in kiosk.http("GET", "/personas").json["personas"]
    kiosk.http("PUT", "/config", {"json": {}, "version": "reset"})


def test_the_sdk_patches_a_persona_and_merges_config_with_confirmation(kiosk):
    from runtime.sdk import ApiError, Client
    from tests.kiosk import TOKEN

    client = Client(kiosk.url, token=TOKEN)
    put_persona(kiosk, "sdk", ADA)
    client.patch_persona("sdk", style="Brisk.")
    assert persona(kiosk, "sdk")["facts"] == FACTS and persona(kiosk, "sdk")["style"] == "Brisk."
    client.merge_config("s1", {"play": {"volume": 0.4}})
    with pytest.raises(ApiError) as refused:
        client.merge_config("s2", {"personas": {"sdk": None}})
    assert refused.value.code == "config-confirm-needed" and refused.value.status == 409
    assert any(e["path"] == "personas.sdk.facts" and e["kind"] == "removed" for e in refused.value.diff)
    assert client.merge_config("s2", {"personas": {"sdk": None}}, confirm=True)["version"] == "s2"
    assert "sdk" not in client.personas and kiosk.http("GET", "/config").json["applied"]["play"]["volume"] == 0.4
    kiosk.http("PUT", "/config", {"json": {}, "version": "reset"})


# --- 4. voice previews: cached engines, no library copies, flat memory -----------------------


def espeak_copies() -> set[str]:
    """The copies of libespeak-ng this process has mapped (by inode), and where they are."""
    found = set()
    for line in open("/proc/self/maps", encoding="utf-8"):
        fields = line.split(None, 5)
        if len(fields) == 6 and "libespeak-ng" in fields[5] and "espeakng_loader" not in fields[5]:
            found.add(f"{fields[4]} {fields[5].strip()}")
    return found


def rss_mb() -> float:
    for line in open("/proc/self/status", encoding="utf-8"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_listening_through_the_voices_reuses_one_engine_and_copies_no_library(page, kiosk):
    before = espeak_copies()
    go(page, "voice")
    for voice in [*MANDARIN_VOICES, MANDARIN_VOICES[0]]:
        before_src = page.evaluate("document.querySelector('#voice-audio').src")
        page.click(f"#voice-list li:has(span[title={voice}]) button.secondary")
        page.wait_for_function("(old) => { const a = document.querySelector('#voice-audio'); "
                               "return a.src !== old && a.duration > 0.5; }", arg=before_src, timeout=60_000)
    new = espeak_copies() - before
    assert len(new) <= 2, f"{len(new)} new copies of libespeak-ng for {len(MANDARIN_VOICES) + 1} previews"
    assert not any(tempfile.gettempdir() + "/" in copy for copy in espeak_copies()), "a copy in the shared /tmp"
    assert kiosk.device.samples.loads <= 1, "the Kokoro engine was loaded again for another voice"


def test_memory_stays_flat_over_many_previews(kiosk):
    """12 previews over four voices of two engines (tests/preview_memory.py runs 100)."""
    voices = [*MANDARIN_VOICES, "tts-piper-joe"]
    for voice in voices:  # every engine loaded once
        assert kiosk.http("GET", f"/voices/sample.wav?id={voice}").status == 200
    start, copies = rss_mb(), espeak_copies()
    for n in range(12):
        reply = kiosk.http("GET", f"/voices/sample.wav?id={voices[n % len(voices)]}&text=Preview%20{n}.")
        assert reply.status == 200 and reply.raw[:4] == b"RIFF"
    grown = rss_mb() - start
    # Generous: the heap breathes by up to ~250 MB between previews (tests/preview_memory.py, 100
    # previews: 1004-1259 MB after the first round, no trend). What must never pile up is what is
    # never given back: the library copies each engine load maps.
    assert grown < 300, f"the process grew by {grown:.0f} MB over 12 previews"
    piled = espeak_copies() - copies  # mapped for good: a library is never unloaded
    assert not piled, f"{len(piled)} more copies of libespeak-ng mapped after 12 previews"


def test_a_crashed_process_leaves_its_library_copy_in_its_own_folder_and_the_next_start_removes_it(tmp_path):
    env = {**os.environ, "CACHE_DIRECTORY": str(tmp_path)}
    speak = ("import os; from runtime.speech import phonemes; assert phonemes.espeak_english()('Hello'); "
             "print(os.getpid(), flush=True)")
    crashed = subprocess.run([sys.executable, "-c", f"{speak}; os.kill(os.getpid(), 9)"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert crashed.returncode == -9, crashed.stderr
    left = tmp_path / "espeak" / crashed.stdout.split()[0]
    assert list(left.rglob("libespeak-ng.so")), "the copy was not made in the kiosk's own cache folder"
    again = subprocess.run([sys.executable, "-c", speak], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert not left.exists(), "the crashed process's copy was not removed at the next start"
    assert not (tmp_path / "espeak").exists(), "a normal end left its folder"
    assert "Traceback" not in again.stderr and "Exception ignored" not in again.stderr, again.stderr


# --- 5. the operator's language, avatar replace, two faces, favicon --------------------------


def test_avatar_errors_in_chinese_name_the_console_fix_and_replace_works(browser, kiosk):
    page = open_console(browser, kiosk, lang="zh")
    page.set_default_timeout(60_000)
    go(page, "avatar")
    portrait = PORTRAITS / "woman_older_glasses_neutral.jpg"
    for attempt in range(2):
        page.fill("#avatar-form input[name=name]", "eileen")
        page.set_input_files("#avatar-form input[name=photo]", str(portrait))
        page.click("#avatar-form button[type=submit]")
        page.wait_for_selector(f"#avatar-message.{'ok' if attempt == 0 else 'bad'}:not(:empty)")
        page.wait_for_function("!document.querySelector('#avatar-message').textContent.includes('正在识别')")
    refused = page.inner_text("#avatar-message")
    assert "同名时替换" in refused and "avatar-exists" in refused, refused  # the console's fix, and the code
    assert not any(cli in refused for cli in ("--replace", "avatar.remove", "DELETE", "choose another")), refused
    page.check("#avatar-form input[name=replace]")
    page.click("#avatar-form button[type=submit]")
    page.wait_for_function("document.querySelector('#avatar-message').textContent.includes('已用新照片替换')")
    page.fill("#avatar-form input[name=name]", "pair")
    page.set_input_files("#avatar-form input[name=photo]", str(PORTRAITS / "two_people_bar_flash.jpg"))
    page.click("#avatar-form button[type=submit]")
    page.wait_for_selector("#avatar-warning:not([hidden])")
    assert "2 张人脸" in page.inner_text("#avatar-warning")
    page.close()


def test_the_api_replaces_an_avatar_and_reports_two_faces(kiosk):
    photo = (PORTRAITS / "man_older_turned15.jpg").read_bytes()

    def upload(name: str, data: bytes, replace: bool | None = None):
        boundary = "edge-talker-test"
        parts = [("name", name.encode(), None), ("photo", data, "photo.jpg")]
        if replace is not None:
            parts.append(("replace", b"true" if replace else b"false", None))
        body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"'.encode()
                        + (f'; filename="{file}"\r\nContent-Type: image/jpeg'.encode() if file else b"")
                        + b"\r\n\r\n" + value + b"\r\n" for key, value, file in parts) + f"--{boundary}--\r\n".encode()
        kind = f"multipart/form-data; boundary={boundary}"
        return kiosk.http("POST", "/avatars", body, headers={"Content-Type": kind})

    assert upload("otto", photo).status == 201
    refused = upload("otto", photo)
    assert refused.status == 409 and refused.code == "avatar-exists"
    assert "--replace" not in refused.json["error"]["hint"] and "replace" in refused.json["error"]["hint"]
    replaced = upload("otto", (PORTRAITS / "two_people_bar_flash.jpg").read_bytes(), replace=True)
    assert replaced.status == 201 and replaced.json["replaced"]
    assert [w["code"] for w in replaced.json["warnings"]] == ["avatar-several-faces"]


def test_the_chinese_console_shows_chinese_errors_units_and_metric_names_and_has_a_favicon(browser, kiosk):
    page = open_console(browser, kiosk, lang="zh")
    page.set_default_timeout(15_000)
    assert page.evaluate("fetch(document.querySelector('link[rel=icon]').href).then(r => r.ok && "
                         "r.headers.get('content-type').includes('svg'))")
    assert page.evaluate("fetch('/favicon.ico').then(r => r.ok)")
    uptime = page.inner_text("#facts")
    assert "秒" in uptime and " s" not in uptime
    go(page, "bench")
    page.wait_for_selector("#bench-table:not([hidden]) td")
    table = page.inner_text("#bench-table")
    assert "语音到语音（中位数）" in table and "1417 毫秒" in table and "检测到访客说完" in table
    assert " ms" not in table
    go(page, "config")
    page.wait_for_function("document.querySelector('#config-in-force').textContent.includes('pub_endpoint')")
    page.fill("#config-form [name=version]", "zh-1")
    page.fill("#config-form [name=document]", '{"play": {"volum": 0.5}}')
    page.click("#config-form button[type=submit]")
    page.wait_for_selector("#config-message.bad li")
    problems = page.inner_text("#config-message")
    english = kiosk.http("PATCH", "/config", {"json": {"play": {"volum": 0.5}}, "version": "zh-1"}).json["error"]
    assert "文档有问题" in problems and "play.volum" in problems
    assert english["message"] not in problems and english["hint"] not in problems
    page.close()
