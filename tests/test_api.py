"""The REST API against the real app on a loopback port, with the product's actors running in this
process: every endpoint's happy path and its bad input (no token, wrong token, oversize upload, a
cat photo, malformed JSON, a config typo) — clean JSON errors with the right status, nothing
changed — the event stream, the live face, and the SDK's README example."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest
import soundfile

from runtime.core.messages import Interrupt, PlaybackStarted, ReplyChunk, Say, SetPersona
from runtime.store.models import ModelStore
from tests.conftest import REPO, wait_for
from tests.kiosk import TOKEN, ApiKiosk

PORTRAIT = REPO / "tests" / "data" / "portraits" / "man_darkskin_smile_teeth.jpg"
PATHS = ["/status", "/state", "/say", "/interrupt", "/personas", "/personas/{persona_id}", "/persona", "/avatars",
         "/avatars/{name}", "/avatars/{name}/sheet.jpg", "/avatar", "/voices", "/voice", "/voices/sample.wav",
         "/volume", "/mute", "/config", "/events", "/live.mjpeg", "/bench/latest", "/bench/latest/timeline.png",
         "/restart", "/models/verify", "/session"]


class Stream:
    """A streaming GET read in a thread (SSE or MJPEG); keeps the raw bytes."""

    def __init__(self, kiosk: ApiKiosk, path: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", kiosk.port), timeout=30)
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n".encode())
        self.data = bytearray()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            while chunk := self.sock.recv(65536):
                self.data += chunk
        except OSError:  # closed by close()
            return

    def events(self) -> list[dict]:
        """The SSE events so far."""
        return [json.loads(m) for m in re.findall(rb"^data: (.*)$", bytes(self.data), re.M)]

    def jpegs(self) -> list[bytes]:
        """The complete MJPEG frames so far (each part says its Content-Length)."""
        data = bytes(self.data)
        frames = []
        for match in re.finditer(rb"Content-Type: image/jpeg\r\nContent-Length: (\d+)\r\n\r\n", data):
            frame = data[match.end():match.end() + int(match.group(1))]
            if len(frame) == int(match.group(1)):
                frames.append(frame)
        return frames

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory, default_avatar):
    with ApiKiosk(tmp_path_factory.mktemp("api-kiosk"), default_avatar) as the_kiosk:
        yield the_kiosk


# --- the document and the token ---------------------------------------------------------------------


def test_openapi_lists_every_path_and_the_request_models(kiosk):
    doc = kiosk.http("GET", "/openapi.json").json
    assert set(PATHS) <= set(doc["paths"]), set(PATHS) - set(doc["paths"])
    say = doc["paths"]["/say"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert say == {"$ref": "#/components/schemas/SayRequest"}
    schemas = doc["components"]["schemas"]
    assert schemas["SayRequest"]["properties"]["text"]["maxLength"] == 2000
    assert "Emotion" in schemas and "ConfigApplyRequest" in schemas
    assert "multipart/form-data" in doc["paths"]["/avatars"]["post"]["requestBody"]["content"]


def test_a_token_is_required_and_checked(kiosk):
    for token in (None, "", "wrong", TOKEN[:-1]):
        reply = kiosk.http("GET", "/state", token=token)
        assert reply.status == 401 and reply.code == "api-unauthorized" and reply.json["error"]["hint"]
        assert reply.headers["WWW-Authenticate"] == "Bearer"
    reply = kiosk.http("POST", "/say", {"text": "not allowed"}, token="wrong")
    assert reply.status == 401
    assert not any(m.text == "not allowed" for m in kiosk.rec.of(Say))
    assert kiosk.http("GET", "/state").status == 200  # positive control
    # The console's files carry no data: served without a token.
    index = kiosk.http("GET", "/", token=None)
    assert index.status == 200 and b"EdgeTalker" in index.raw
    assert kiosk.http("GET", "/console/app.js", token=None).status == 200
    # The console keeps the token in an HttpOnly cookie for its streams.
    assert kiosk.http("POST", "/session", {"token": "wrong"}, token=None).status == 401
    session = kiosk.http("POST", "/session", {"token": TOKEN}, token=None)
    cookie = session.headers["set-cookie"]
    assert session.status == 200 and "HttpOnly" in cookie and "SameSite=strict" in cookie
    by_cookie = kiosk.http("GET", "/status", token=None, headers={"Cookie": cookie.split(";")[0]})
    assert by_cookie.status == 200 and by_cookie.json["online"] is True


def test_unknown_paths_and_methods_are_json_errors(kiosk):
    assert kiosk.http("GET", "/nowhere").code == "api-not-found"
    reply = kiosk.http("DELETE", "/say")
    assert reply.status == 405 and reply.code == "api-method-not-allowed"


# --- say, interrupt, volume, mute -------------------------------------------------------------------


def test_say_speaks_with_the_face(kiosk):
    reply = kiosk.http("POST", "/say", {"text": "Welcome to the gallery."})
    assert reply.status == 200
    turn = reply.json["turn"]
    chunks = kiosk.said_turn(turn)
    assert " ".join(c.text for c in chunks if c.text) == "Welcome to the gallery."
    assert any(m.turn == turn for m in kiosk.rec.of(PlaybackStarted))
    assert kiosk.http("POST", "/interrupt", {}).status == 200
    assert kiosk.rec.wait_for(lambda r: any(m.reason == "operator" and m.turn > turn for m in r.of(Interrupt)), 10)


BAD_JSON = [
    ("POST", "/say", b"{nope", "application/json", 400, "api-bad-json"),
    ("POST", "/say", b'{"text": 5}', "application/json", 400, "command-invalid"),
    ("POST", "/say", b'{"text": ""}', "application/json", 400, "command-invalid"),
    ("POST", "/say", b'{"text": "hi", "voice": "x"}', "application/json", 400, "command-invalid"),
    ("POST", "/say", b"[]", "application/json", 400, "command-invalid"),
    ("POST", "/say", b"text=hi", "application/x-www-form-urlencoded", 415, "api-unsupported-media-type"),
    ("POST", "/say", b'{"text": "' + b"a" * (3 * 2**20) + b'"}', "application/json", 413, "api-body-too-large"),
    ("POST", "/volume", b'{"level": "loud"}', "application/json", 400, "command-invalid"),
    ("POST", "/volume", b'{"level": -1}', "application/json", 400, "command-invalid"),
    ("POST", "/mute", b'{"on": "yes"}', "application/json", 400, "command-invalid"),
    ("POST", "/interrupt", b'{"x": 1}', "application/json", 400, "command-invalid"),
    ("POST", "/persona", b'{"id": "nobody"}', "application/json", 404, "think-unknown-persona"),
    ("PUT", "/personas/x", b'{"name": "X", "system_prompt": "p", "max_sentences": "many"}', "application/json", 400,
     "command-invalid"),
    ("PUT", "/personas/x", b'{"name": "X"}', "application/json", 400, "command-invalid"),
    ("PUT", "/personas/bad%20id", b'{"name": "X", "system_prompt": "p"}', "application/json", 400,
     "command-invalid"),
    ("POST", "/avatar", b'{"name": "ghost"}', "application/json", 404, "avatar-unknown"),
    ("POST", "/avatar", b'{"name": "Ghost!"}', "application/json", 400, "command-invalid"),
    ("DELETE", "/avatars/ghost", None, None, 404, "avatar-unknown"),
    ("DELETE", "/avatars/default", None, None, 409, "avatar-in-use"),
    ("POST", "/voice", b'{"id": "tts-nope"}', "application/json", 404, "tts-voice-unknown"),
    ("PUT", "/config", b'{"json": {"play": {"volum": 0.5}}, "version": "typo"}', "application/json", 422,
     "config-invalid"),
    ("PUT", "/config", b'{"toml": "[play\\nvolume =", "version": "v"}', "application/json", 422, "config-syntax"),
    ("PUT", "/config", b'{"json": {"play": {"volume": 0.5}}}', "application/json", 400, "command-invalid"),
    ("POST", "/models/verify", b'{"ids": ["nope"]}', "application/json", 404, "model-unknown"),
]


def test_bad_requests_get_json_errors_and_change_nothing(kiosk):
    before = kiosk.http("GET", "/config").json
    applied_file = kiosk.device.applied_store.path
    applied = applied_file.read_bytes() if applied_file.exists() else None
    says = len(kiosk.rec.of(Say))
    wrong = []
    for method, path, body, kind, status, code in BAD_JSON:
        reply = kiosk.http(method, path, body, headers={"Content-Type": kind} if kind else None)
        error = (reply.json or {}).get("error", {})
        if reply.status != status or reply.code != code or not error.get("message") or not error.get("hint"):
            wrong.append((method, path, reply.status, reply.json))
    assert not wrong, wrong
    assert kiosk.http("GET", "/config").json == before
    assert (applied_file.read_bytes() if applied_file.exists() else None) == applied, "the applied config changed"
    assert len(kiosk.rec.of(Say)) == says
    assert "x" not in kiosk.http("GET", "/personas").json["personas"]


def test_volume_and_mute(kiosk):
    assert kiosk.http("POST", "/volume", {"level": 0.4}).json["changed"] == ["play.volume"]
    assert wait_for(lambda: kiosk.actor("play").volume == 0.4, 10)
    assert kiosk.http("POST", "/mute", {"on": True}).json["changed"] == ["play.mute"]
    state = kiosk.http("GET", "/state").json
    assert state["volume"] == 0.4 and state["muted"] is True
    kiosk.http("POST", "/mute", {"on": False})
    kiosk.http("POST", "/volume", {"level": 1.0})


# --- personas ---------------------------------------------------------------------------------------


def test_personas_get_put_and_switch(kiosk):
    assert kiosk.http("GET", "/personas/guide").json["name"] == "Mia"
    assert kiosk.http("GET", "/personas/nobody").status == 404
    reply = kiosk.http("PUT", "/personas/curator", {"name": "Ada", "system_prompt": "You are Ada, the curator.",
                                                     "language": "en", "greeting": {"en": "Hello."}})
    assert reply.status == 200 and "personas.curator" in reply.json["changed"]
    assert kiosk.http("GET", "/personas/curator").json["greeting"] == {"en": "Hello."}
    assert kiosk.http("POST", "/persona", {"id": "curator"}).status == 200
    assert kiosk.rec.wait_for(lambda r: any(m.persona == "curator" for m in r.of(SetPersona)), 10)
    assert wait_for(lambda: kiosk.actor("think").dialogue.persona_id == "curator", 10)
    assert kiosk.http("GET", "/state").json["persona"] == "curator"
    assert kiosk.http("POST", "/persona", {"id": "guide"}).status == 200


# --- avatars ----------------------------------------------------------------------------------------


def multipart(fields: dict[str, bytes | str], boundary: str = "b0undary") -> tuple[bytes, dict]:
    """A multipart/form-data body (photo as a file part)."""
    parts = []
    for name, value in fields.items():
        if isinstance(value, bytes):
            head = f'Content-Disposition: form-data; name="{name}"; filename="{name}.jpg"\r\n' \
                   f"Content-Type: image/jpeg\r\n\r\n"
            parts.append(f"--{boundary}\r\n{head}".encode() + value + b"\r\n")
        else:
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), headers


def test_avatar_upload_shows_its_contact_sheet_then_switch(kiosk):
    body, headers = multipart({"name": "sam", "photo": PORTRAIT.read_bytes()})
    reply = kiosk.http("POST", "/avatars", body, headers=headers)
    assert reply.status == 201, reply.json
    assert reply.json["name"] == "sam" and reply.json["sheet"] == "/avatars/sam/sheet.jpg"
    sheet = kiosk.http("GET", reply.json["sheet"])
    assert sheet.status == 200 and sheet.headers["content-type"] == "image/jpeg"
    image = cv2.imdecode(np.frombuffer(sheet.raw, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[1] == 3 * 512 and image.shape[0] >= 3 * 512  # key poses, three to a row
    listed = kiosk.http("GET", "/avatars").json
    assert "sam" in listed["avatars"] and listed["sheets"]["sam"] == "/avatars/sam/sheet.jpg"
    assert kiosk.http("POST", "/avatar", {"name": "sam"}).status == 200
    assert wait_for(lambda: kiosk.http("GET", "/state").json["avatar"] == "sam", 10)
    assert kiosk.http("DELETE", "/avatars/sam").code == "avatar-in-use"
    assert kiosk.http("POST", "/avatar", {"name": "default"}).status == 200
    assert kiosk.http("DELETE", "/avatars/sam").status == 200
    assert kiosk.http("GET", "/avatars/sam/sheet.jpg").status == 404


def test_bad_uploads_are_refused_and_leave_no_avatar(kiosk):
    cat = ModelStore(kiosk.device.models.root).path("photo-cat", "chelsea.png").read_bytes()
    cases = [
        (multipart({"name": "cat", "photo": cat}), 422, "avatar-no-face"),
        (multipart({"name": "junk", "photo": b"this is not an image"}), 422, "avatar-bad-image"),
        (multipart({"name": "big", "photo": os.urandom(11 * 2**20)}), 413, "avatar-photo-too-large"),
        (multipart({"name": "Bad Name", "photo": PORTRAIT.read_bytes()}), 400, "command-invalid"),
        (multipart({"photo": PORTRAIT.read_bytes()}), 400, "api-bad-form"),
        (multipart({"name": "nophoto"}), 400, "api-bad-form"),
        ((b"--x\r\nbroken", {"Content-Type": "multipart/form-data; boundary=x"}), 400, "api-bad-form"),
        ((PORTRAIT.read_bytes(), {"Content-Type": "image/jpeg"}), 415, "api-unsupported-media-type"),
    ]
    before = kiosk.http("GET", "/avatars").json["avatars"]
    for (body, headers), status, code in cases:
        reply = kiosk.http("POST", "/avatars", body, headers=headers)
        assert (reply.status, reply.code) == (status, code), (code, reply.status, reply.json)
    assert kiosk.http("GET", "/avatars").json["avatars"] == before
    # No photo was written anywhere in the state directory.
    assert not [p for p in kiosk.state_dir.rglob("*") if p.is_file() and p.suffix in (".jpg", ".png")
                and p.name != "portrait.png"]


# --- voices -----------------------------------------------------------------------------------------


def test_voices_and_the_listen_button(kiosk):
    voices = kiosk.http("GET", "/voices").json
    assert voices["active_by_language"] == {"en": "tts-piper-joe", "zh": "zf_xiaoxiao"}
    listed = {v["id"]: v for v in voices["voices"]}
    assert listed["tts-piper-joe"]["installed"] and listed["tts-piper-joe"]["language"] == "en"
    assert listed["zm_yunxi"]["language"] == "zh" and listed["zm_yunxi"]["engine"] == "kokoro"
    assert "tts-kokoro" not in listed and "tts-kokoro-voices" not in listed  # a model is not a voice
    wav = kiosk.http("GET", "/voices/sample.wav?id=tts-piper-joe&text=Hello%20there%2C%20visitor.")
    assert wav.status == 200 and wav.headers["content-type"] == "audio/wav"
    audio, rate = soundfile.read(io.BytesIO(wav.raw))
    assert rate > 8000 and len(audio) / rate > 0.5 and np.abs(audio).max() > 0.05
    chinese = kiosk.http("GET", "/voices/sample.wav?id=zm_yunxi", timeout_s=120)  # says the Chinese sample
    audio, rate = soundfile.read(io.BytesIO(chinese.raw))
    assert chinese.status == 200 and len(audio) / rate > 0.5
    for bad in ("tts-nope", "tts-kokoro", "zf_nobody", "Robert'); DROP"):
        assert kiosk.http("GET", f"/voices/sample.wav?id={bad.replace(' ', '%20')}").code == "tts-voice-unknown", bad
        assert kiosk.http("POST", "/voice", {"id": bad}).code == "tts-voice-unknown", bad
    assert kiosk.http("GET", "/voices/sample.wav").status == 400  # no id
    assert kiosk.http("POST", "/voice", {"id": "tts-piper-joe"}).json["changed"] == []
    # The Chinese voice switches live; the English one stays.
    assert kiosk.http("POST", "/voice", {"id": "zm_yunxi"}).json["changed"] == ["speak.zh.voice"]
    assert kiosk.http("GET", "/state").json["voices"] == {"en": "tts-piper-joe", "zh": "zm_yunxi"}
    assert kiosk.http("POST", "/voice", {"id": "zf_xiaoxiao"}).json["changed"] == ["speak.zh.voice"]


# --- config -----------------------------------------------------------------------------------------


def test_config_get_put_and_a_typo(kiosk):
    got = kiosk.http("GET", "/config").json
    assert got["config"]["api"]["enabled"] is True and got["config"]["play"]["device"] == "none"
    reply = kiosk.http("PUT", "/config", {"json": {"play": {"volume": 0.7}}, "version": "web-1"})
    assert reply.status == 200 and reply.json["version"] == "web-1" and reply.json["restart"] is False
    assert wait_for(lambda: kiosk.actor("play").volume == 0.7, 10)
    typo = kiosk.http("PUT", "/config", {"toml": "[play]\nvolumme = 0.2\n", "version": "web-2"})
    assert typo.status == 422 and "play.volumme: unknown key" in typo.json["error"]["errors"]
    after = kiosk.http("GET", "/config").json
    assert after["version"] == "web-1" and after["config"]["play"]["volume"] == 0.7
    assert kiosk.http("PUT", "/config", {"json": {}, "version": "web-3"}).status == 200


def test_restart_answers_first_then_restarts(kiosk):
    before = len(kiosk.restarts)
    reply = kiosk.http("POST", "/restart", {})
    assert reply.status == 200 and reply.json == {"restarting": True}
    assert wait_for(lambda: len(kiosk.restarts) > before, 10)
    kiosk.device.restart_pending = False  # this in-process kiosk does not restart


def test_models_verify(kiosk):
    reply = kiosk.http("POST", "/models/verify", {"ids": ["tts-piper-joe"]}, timeout_s=120)
    assert reply.json == {"ok": True, "models": {"tts-piper-joe": "ok"}}


# --- streams ----------------------------------------------------------------------------------------


def test_events_stream_state_turns_and_captions_only_when_enabled(kiosk):
    stream = Stream(kiosk, "/events")
    try:
        assert wait_for(lambda: stream.events(), 10)
        first = stream.events()[0]
        assert first["type"] == "state" and first["captions"] is False and "said" not in first
        turn = kiosk.http("POST", "/say", {"text": "Private words."}).json["turn"]
        event = wait_for(lambda: next((e for e in stream.events() if e["type"] == "turn" and e["turn"] == turn),
                                      None), 30)
        assert event["say_to_audio_ms"] > 0 and event["first_audio_ns"] > 0
        assert not any(e["type"] == "caption" for e in stream.events())
        assert b"Private" not in bytes(stream.data)
        # Positive control: captions switched on (live), the words come.
        kiosk.http("PUT", "/config", {"json": {"api": {"captions": True}}, "version": "captions"})
        turn = kiosk.http("POST", "/say", {"text": "Shared words."}).json["turn"]
        caption = wait_for(lambda: next((e for e in stream.events() if e["type"] == "caption"
                                         and e["turn"] == turn), None), 30)
        assert caption["who"] == "avatar" and caption["text"] == "Shared words."
    finally:
        stream.close()
        kiosk.http("PUT", "/config", {"json": {}, "version": "private"})


def test_live_face_streams_jpeg_frames(kiosk):
    stream = Stream(kiosk, "/live.mjpeg")
    try:
        assert wait_for(lambda: b"multipart/x-mixed-replace; boundary=frame" in bytes(stream.data), 10)
        kiosk.http("POST", "/say", {"text": "Look at my face while I talk to you."})
        frames = wait_for(lambda: (f := stream.jpegs()) and len(f) >= 10 and f, 30)
        assert frames, bytes(stream.data[:300])
        images = [cv2.imdecode(np.frombuffer(f, np.uint8), cv2.IMREAD_COLOR) for f in frames]
        assert all(i is not None and i.shape == (512, 512, 3) for i in images)
        assert max(np.abs(i.astype(int) - images[0]).mean() for i in images) > 0.5, "the face never moved"
    finally:
        stream.close()


def test_the_stream_limits_hold(kiosk):
    streams = [Stream(kiosk, "/live.mjpeg") for _ in range(8)]
    try:
        assert wait_for(lambda: all(b"200 OK" in bytes(s.data[:64]) for s in streams), 10)
        reply = kiosk.http("GET", "/live.mjpeg")
        assert reply.status == 503 and reply.code == "api-busy"
    finally:
        for s in streams:
            s.close()
    assert wait_for(lambda: not kiosk.actor("api").hub.wants("frames"), 10)


# --- the benchmark page ----------------------------------------------------------------------------


def test_bench_latest(kiosk):
    assert kiosk.http("GET", "/bench/latest").code == "bench-missing"
    kiosk.bench.mkdir(exist_ok=True)
    report = {"voice_to_voice_ms": {"p50": 917.0, "p95": 1296.0, "n": 15},
              "barge_in_ms": {"p50": 253.0, "p95": 280.0, "n": 3}, "render_fps": 30.0, "av_offset_ms": -11.0,
              "peak_rss_mb": 1823.0, "cold_start_s": 4.9,
              "stages_ms": {"vad_endpoint": 616.0, "answer_playback": 917.0}}
    (kiosk.bench / "report.json").write_text(json.dumps(report))
    cv2.imwrite(str(kiosk.bench / "timeline.png"), np.full((60, 200, 3), 255, np.uint8))
    latest = kiosk.http("GET", "/bench/latest").json
    assert latest["report"] == report and latest["timeline"] == "/bench/latest/timeline.png"
    targets = {t["metric"]: t for t in latest["targets"]}
    assert targets["voice_to_voice_ms.p50"]["met"] is True and targets["barge_in_ms.p50"]["met"] is False
    png = kiosk.http("GET", "/bench/latest/timeline.png")
    assert png.status == 200 and png.raw.startswith(b"\x89PNG")
    (kiosk.bench / "report.json").write_text("{half")
    assert kiosk.http("GET", "/bench/latest").code == "bench-damaged"


# --- the SDK ----------------------------------------------------------------------------------------


def readme_example() -> str:
    """The Python SDK example of the README, as it is printed there."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Python SDK"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_sdk_example_runs(kiosk, tmp_path):
    out = subprocess.run([sys.executable, "-c", readme_example()], cwd=tmp_path, capture_output=True, text=True,
                         timeout=180, env={**os.environ, "PYTHONPATH": str(REPO), "EDGE_TALKER_URL": kiosk.url,
                                           "EDGE_TALKER_TOKEN": TOKEN, "PHOTO": str(PORTRAIT)})
    assert out.returncode == 0, out.stderr
    assert "first audio after" in out.stdout
    state = kiosk.http("GET", "/state").json
    assert state["persona"] == "curator" and state["avatar"] == "ada"
    assert (tmp_path / "ada-sheet.jpg").stat().st_size > 10_000
    assert any(m.text.startswith("Welcome") for m in kiosk.rec.of(ReplyChunk))


def test_the_sdk_raises_the_api_errors(kiosk):
    from runtime.sdk import ApiError, Client

    with pytest.raises(ApiError) as err:
        Client(kiosk.url, token="wrong").state()
    assert err.value.status == 401 and err.value.code == "api-unauthorized"
    client = Client(kiosk.url, token=TOKEN)
    with pytest.raises(ApiError) as err:
        client.apply_config("bad", document={"play": {"volum": 1}})
    assert err.value.code == "config-invalid" and err.value.errors == ["play.volum: unknown key"]
    with pytest.raises(ApiError) as err:
        Client("http://127.0.0.1:1").status()
    assert err.value.code == "api-unreachable"
    assert client.volume(1.0)["version"]


# --- refusing to start --------------------------------------------------------------------------------


def test_off_loopback_the_api_refuses_to_start_without_a_token(tmp_path):
    from tests.conftest import run_cli

    config = tmp_path / "c.toml"
    config.write_text('[api]\nenabled = true\nhost = "0.0.0.0"\n')
    out = run_cli("check-config", "--config", str(config))
    assert out.returncode == 2 and "token_env" in out.stderr
    config.write_text('[capture]\ntype = "console"\n[think]\ntype = "echo"\n'
                      '[api]\nenabled = true\nhost = "0.0.0.0"\ntoken_env = "EDGE_TALKER_UNSET_TOKEN"\n')
    out = run_cli("run", "--config", str(config), env={"SDL_VIDEODRIVER": "dummy"}, input="")
    assert out.returncode != 0 and "error[api-token-missing]" in out.stderr
    assert "ready:" not in out.stderr  # refused before anything started


def test_a_taken_port_is_a_clear_error(tmp_path):
    from runtime.bench.broker import free_port
    from tests.conftest import run_cli

    with socket.socket() as taken:
        port = free_port()
        taken.bind(("127.0.0.1", port))
        taken.listen()
        config = tmp_path / "c.toml"
        config.write_text(f'[capture]\ntype = "console"\n[think]\ntype = "echo"\n[play]\ndevice = "none"\n'
                          f'[display]\nwindow = "off"\n[paths]\nstate = "{tmp_path}"\n[api]\nenabled = true\n'
                          f"port = {port}\n")
        out = run_cli("run", "--config", str(config), env={"SDL_VIDEODRIVER": "dummy"}, input="")
    assert out.returncode != 0 and "error[api-bind-failed]" in out.stderr and "hint: another program" in out.stderr
