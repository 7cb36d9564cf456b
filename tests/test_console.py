"""The web console in headless Chromium (Debian's, driven by Playwright) against the real API of an
in-process kiosk: log in, see the status, upload a photo and see its contact sheet, switch persona,
make the face speak and see the caption and a changing frame, the config editor's validation
messages, the voice's listen button, the bench page, Chinese. Screenshots of each page at desktop
and phone width go to the test's temp dir."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import REPO, wait_for
from tests.kiosk import PHONE, ApiKiosk, go, open_console

PORTRAIT = REPO / "tests" / "data" / "portraits" / "woman_older_glasses_neutral.jpg"


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory, default_avatar):
    the_kiosk = ApiKiosk(tmp_path_factory.mktemp("console-kiosk"), default_avatar, captions=True)
    the_kiosk.bench.mkdir()
    report = {"voice_to_voice_ms": {"p50": 1417.0, "p95": 1596.0, "n": 5}, "barge_in_ms": 253.0,
              "render_fps": 30.0, "av_offset_ms": -11.0, "peak_rss_mb": 1823.0, "cold_start_s": 4.9,
              "stages_ms": {"vad_endpoint": 616.0, "final_transcript": 929.0, "playback_start": 1336.0}}
    (the_kiosk.bench / "report.json").write_text(json.dumps(report))
    timeline = np.full((240, 900, 3), 250, np.uint8)
    cv2.rectangle(timeline, (40, 80), (500, 140), (200, 120, 40), -1)
    cv2.imwrite(str(the_kiosk.bench / "timeline.png"), timeline)
    try:
        yield the_kiosk
    finally:
        the_kiosk.close()


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return folder


def test_status_page_in_english_and_chinese_on_desktop_and_phone(browser, kiosk, shots):
    page = open_console(browser, kiosk)
    assert page.inner_text("#health-summary") == "All actors are running"
    actors = page.inner_text("#actors")
    assert all(name in actors for name in ("api", "render", "speak", "think"))
    assert "tts-piper-joe" in page.inner_text("#models")
    assert page.inner_text("#device-name") == kiosk.http("GET", "/status").json["device"]
    page.screenshot(path=shots / "desktop-status.png", full_page=True)
    page.select_option("#lang", "zh")
    page.wait_for_function("document.querySelector('#health-summary').textContent === '所有组件运行正常'")
    assert page.inner_text("#tabs a[href='#status']") == "状态"
    page.screenshot(path=shots / "desktop-status-zh.png", full_page=True)
    page.close()
    phone = open_console(browser, kiosk, PHONE, lang="zh")
    assert phone.inner_text("#tabs a[href='#live']") == "实时"  # a Chinese browser gets Chinese
    for name in ("status", "live", "persona", "avatar", "voice", "config", "bench"):
        go(phone, name)
        phone.wait_for_timeout(300)
        phone.screenshot(path=shots / f"phone-{name}.png", full_page=True)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{name}: the page is {width} px wide on a {PHONE['width']} px phone"
    phone.close()


def test_upload_a_photo_see_its_contact_sheet_then_switch(browser, kiosk, shots):
    page = open_console(browser, kiosk)
    go(page, "avatar")
    page.fill("#avatar-form input[name=name]", "eileen")
    page.set_input_files("#avatar-form input[name=photo]", str(PORTRAIT))
    page.click("#avatar-form button")
    page.wait_for_selector("#sheet-figure:not([hidden])", timeout=60_000)
    page.wait_for_function("document.querySelector('#sheet').complete && document.querySelector('#sheet')"
                           ".naturalWidth === 1536", timeout=20_000)
    assert "eileen" in page.inner_text("#avatar-message")
    assert kiosk.http("GET", "/state").json["avatar"] == "default"  # not switched before the user says so
    page.screenshot(path=shots / "desktop-avatar-sheet.png", full_page=True)
    page.click("#sheet-use")
    assert wait_for(lambda: kiosk.http("GET", "/state").json["avatar"] == "eileen", 20)
    page.wait_for_selector("#avatar-list .tag.on", timeout=10_000)
    # A photo without a face: the API's message, and nothing new in the list.
    cat = kiosk.device.models.path("photo-cat", "chelsea.png")
    page.fill("#avatar-form input[name=name]", "cat")
    page.set_input_files("#avatar-form input[name=photo]", str(cat))
    page.click("#avatar-form button")
    page.wait_for_selector("#avatar-message.bad", timeout=60_000)
    assert "no face" in page.inner_text("#avatar-message")
    assert "cat" not in page.inner_text("#avatar-list")
    page.screenshot(path=shots / "desktop-avatar-refused.png", full_page=True)
    kiosk.http("POST", "/avatar", {"name": "default"})
    page.close()


def test_edit_and_switch_persona_with_validation_messages(browser, kiosk, shots):
    page = open_console(browser, kiosk)
    go(page, "persona")
    page.wait_for_selector("#persona-select option", state="attached", timeout=10_000)
    form = "#persona-form"
    page.click("#persona-new")
    page.fill(f"{form} [name=id]", "curator")
    page.fill(f"{form} [name=name]", "Ada")
    page.fill(f"{form} [name=system_prompt]", "You are Ada, the curator of this museum.")
    page.fill(f"{form} [name=max_sentences]", "50")  # beyond the schema's limit of 20
    page.click(f"{form} button")
    page.wait_for_selector("#persona-message.bad", timeout=10_000)
    assert "max_sentences" in page.inner_text("#persona-message")
    assert "curator" not in kiosk.http("GET", "/personas").json["personas"]
    page.screenshot(path=shots / "desktop-persona-invalid.png", full_page=True)
    page.fill(f"{form} [name=max_sentences]", "2")
    page.click(f"{form} button")
    page.wait_for_selector("#persona-message.ok", timeout=10_000)
    page.wait_for_selector("#persona-select option[value=curator]", state="attached", timeout=10_000)
    page.select_option("#persona-select", "curator")
    page.click("#persona-use")
    page.wait_for_selector("#persona-use-message.ok", timeout=10_000)
    assert "Ada" in page.inner_text("#persona-use-message")
    assert wait_for(lambda: kiosk.http("GET", "/state").json["persona"] == "curator", 10)
    page.screenshot(path=shots / "desktop-persona.png", full_page=True)
    kiosk.http("POST", "/persona", {"id": "guide"})
    page.close()


def test_make_the_face_speak_and_see_the_caption_and_a_changing_frame(browser, kiosk, shots):
    page = open_console(browser, kiosk)
    go(page, "live")
    page.wait_for_function("document.querySelector('#live-face').naturalWidth > 0", timeout=20_000)
    text = "Good morning! The dinosaur hall is just around the corner."
    page.fill("#say-text", text)
    page.click("#say-form button")
    page.wait_for_selector("#captions li .who.avatar", timeout=30_000)
    frames = set()
    for _ in range(25):
        frames.add(hashlib.sha1(page.locator("#live-face").screenshot()).hexdigest())
        page.wait_for_timeout(120)
    assert len(frames) >= 3, "the face did not change while speaking"
    captions = page.inner_text("#captions")
    assert "Good morning!" in captions and "dinosaur hall" in captions
    page.screenshot(path=shots / "desktop-live.png", full_page=True)
    page.close()


def test_config_editor_shows_every_problem_and_applies(browser, kiosk, shots):
    page = open_console(browser, kiosk)
    go(page, "config")
    page.wait_for_function("document.querySelector('#config-in-force').textContent.includes('pub_endpoint')")
    page.fill("#config-form [name=version]", "console-1")
    page.fill("#config-form [name=document]", '{"play": {"volum": 0.5, "mute": "maybe"}}')
    page.click("#config-form button")
    page.wait_for_selector("#config-message.bad li", timeout=10_000)
    problems = page.inner_text("#config-message")
    assert "play.volum: unknown key" in problems and "play.mute" in problems
    page.screenshot(path=shots / "desktop-config-invalid.png", full_page=True)
    page.fill("#config-form [name=document]", '{"play": {"volume": 0.6}}')
    page.click("#config-form button")
    page.wait_for_selector("#config-message.ok", timeout=10_000)
    assert "console-1" in page.inner_text("#config-message")
    assert kiosk.http("GET", "/config").json["version"] == "console-1"
    kiosk.http("PUT", "/config", {"json": {}, "version": "reset"})
    page.close()


def test_voice_listen_button_and_bench_page(browser, kiosk, shots):
    page = open_console(browser, kiosk)
    go(page, "voice")
    page.click("#voice-list button:has-text('Listen')")
    page.wait_for_function("document.querySelector('#voice-audio').duration > 0.5", timeout=30_000)
    page.screenshot(path=shots / "desktop-voice.png", full_page=True)
    go(page, "bench")
    page.wait_for_selector("#bench-table:not([hidden]) td", timeout=10_000)
    table = page.inner_text("#bench-table")
    assert "voice_to_voice_ms.p50" in table and "1417" in table and "✗" in table  # barge-in missed its target
    page.wait_for_function("document.querySelector('#bench-timeline').naturalWidth === 900", timeout=10_000)
    page.screenshot(path=shots / "desktop-bench.png", full_page=True)
    page.close()


def test_every_string_is_in_english_and_chinese():
    script = (REPO / "runtime" / "console" / "i18n.js").read_text(encoding="utf-8")
    english, chinese = script.split("\n  zh: {")
    en_keys = set(re.findall(r'"([a-z_]+\.[a-z0-9_]+)":', english))
    zh_keys = set(re.findall(r'"([a-z_]+\.[a-z0-9_]+)":', chinese))
    assert en_keys == zh_keys, en_keys ^ zh_keys
    page = (REPO / "runtime" / "console" / "index.html").read_text(encoding="utf-8")
    used = set(re.findall(r'data-i18n(?:-placeholder|-alt)?="([^"]+)"', page))
    for script in (REPO / "runtime" / "console").glob("*.js"):
        used |= set(re.findall(r'\bt\("([a-z_]+\.[a-z0-9_]+)"', script.read_text(encoding="utf-8")))
    assert used <= en_keys, used - en_keys
