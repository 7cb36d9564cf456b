"""Fleet control over a real Mosquitto broker with the product's actors running in this process
and mosquitto_rr / mosquitto_pub as the operator: status, state, events, every command's happy
path and its bad input (a clear ok:false reply with a stable code, and nothing changed)."""

from __future__ import annotations

import base64
import json
import logging
import os
import shutil
import time

import pytest

from runtime import __version__
from runtime.core.messages import (
    Interrupt,
    PutPersona,
    Say,
    SetAvatar,
    SetPersona,
    SpeechAudio,
)
from runtime.store.models import ModelStore
from tests.broker import Watch
from tests.conftest import REPO, wait_for
from tests.kiosk import Kiosk

KIOSK = "kiosk-t"
P = f"edge-talker/{KIOSK}"
PORTRAIT = REPO / "tests" / "data" / "portraits" / "woman_older_glasses_neutral.jpg"
REMOTE = """
[remote]
type = "mqtt"
host = "127.0.0.1"
port = {port}
device_id = "{device}"
homeassistant = true
state_interval_s = 5
"""


class FleetKiosk(Kiosk):
    """The in-process kiosk with its fleet link, and the operator's view of it."""

    def __init__(self, folder, default_avatar, broker) -> None:
        super().__init__(folder, default_avatar, REMOTE.format(port=broker.port, device=KIOSK))
        self.broker = broker
        self.watch = Watch(broker, f"{P}/#", "homeassistant/#")

    def rr(self, name: str, body="{}", **kwargs) -> dict:
        """A command with mosquitto_rr; the reply."""
        if not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        return self.broker.request(f"{P}/cmd/{name}", body, **kwargs)

    def retained_state(self) -> dict:
        return self.broker.retained(f"{P}/state")

    def close(self) -> None:
        self.watch.close()
        super().close()


@pytest.fixture(scope="module")
def kiosk(broker, tmp_path_factory, default_avatar):
    the_kiosk = FleetKiosk(tmp_path_factory.mktemp("kiosk"), default_avatar, broker)
    try:
        assert the_kiosk.watch.wait(lambda w: w.of(f"{P}/status")), "the device never published its status"
        yield the_kiosk
    finally:
        the_kiosk.close()


def _no_words_in(payloads: list[dict], words: str) -> bool:
    return all(words not in json.dumps(p, ensure_ascii=False) for p in payloads)


# --- status, state, events ------------------------------------------------------------------------


def test_status_and_state_are_retained(kiosk):
    status = kiosk.broker.retained(f"{P}/status")
    assert status["online"] is True and status["version"] == __version__
    assert abs(status["since"] - time.time()) < 600
    state = wait_for(lambda: (s := kiosk.retained_state())["health"]["actors"].get("capture") and s, 30)
    assert state["device"] == KIOSK and state["persona"] == "guide" and state["avatar"] == "default"
    assert state["voice"] == "tts-piper-joe" and state["volume"] == 1.0 and state["muted"] is False
    assert state["config_version"] == "" and "tts-piper-joe" in state["models"] and state["uptime_s"] >= 0
    assert {"remote", "render", "play", "speak", "think", "capture"} <= set(state["health"]["actors"])
    assert "said" not in state


def test_say_makes_the_avatar_speak_with_the_face_and_events_carry_no_words(kiosk):
    text = "Welcome to the museum. The cafe is on the left."
    reply = kiosk.rr("say", {"text": text})
    assert reply["ok"] is True and reply["device"] == KIOSK
    turn = reply["result"]["turn"]
    chunks = kiosk.said_turn(turn)
    assert " ".join(c.text for c in chunks if c.text) == text
    audio = [m for m in kiosk.rec.of(SpeechAudio) if m.turn == turn and not m.last]
    assert audio and sum(len(m.pcm) for m in audio) > 16000 and all(len(m.visemes) for m in audio)
    assert any(m.turn == turn and m.reason == "operator" for m in kiosk.rec.of(Interrupt))
    event = kiosk.watch.wait(lambda w: next((e for e in w.of(f"{P}/events") if e.get("turn") == turn), None))
    assert event["type"] == "turn" and event["source"] == "say" and event["say_to_audio_ms"] > 0
    state = kiosk.watch.wait(lambda w: next((s for s in w.of(f"{P}/state") if s["last_turn"].get("turn") == turn),
                                            None))
    assert state["last_turn"]["say_to_audio_ms"] == event["say_to_audio_ms"]
    # Privacy by default: what was said is in no event and no state.
    assert _no_words_in(kiosk.watch.of(f"{P}/events") + kiosk.watch.of(f"{P}/state"), "cafe")


def test_interrupt_starts_a_new_turn(kiosk):
    reply = kiosk.rr("interrupt")
    assert reply["ok"] is True
    turn = reply["result"]["turn"]
    assert kiosk.rec.wait_for(lambda r: any(m.turn == turn and m.reason == "operator" for m in r.of(Interrupt)), 10)


def test_an_operators_turn_is_newer_than_a_visitors_turn_opened_just_before(kiosk):
    """The visitor's onset and an operator's `say` draw turns from one clock: had the say got the
    visitor's number, its Interrupt would be ignored as old and the avatar would not stop."""
    visitor = kiosk.bus.turns.next()  # the listen actor opens a turn; its Interrupt is still on its way
    said = kiosk.rr("say", {"text": "One moment please."})["result"]["turn"]
    assert said > visitor, f"the operator's say got turn {said}, the visitor's onset had {visitor}"
    assert kiosk.rec.wait_for(lambda r: any(m.turn == said and m.reason == "operator" for m in r.of(Interrupt)), 10)


def test_volume_and_mute_are_heard_at_the_speaker(kiosk):
    text = "Testing the loudness of this kiosk."
    loud = kiosk.peak_of_turn(kiosk.rr("say", {"text": text})["result"]["turn"])
    assert kiosk.rr("volume", {"level": 0.25}) == {"ok": True, "device": KIOSK,
                                                  "result": {"version": "", "changed": ["play.volume"],
                                                             "restart": False}}
    quiet = kiosk.peak_of_turn(kiosk.rr("say", {"text": text})["result"]["turn"])
    assert 0.15 < quiet / loud < 0.35, (loud, quiet)
    assert kiosk.rr("mute", {"on": True})["ok"] is True
    assert kiosk.peak_of_turn(kiosk.rr("say", {"text": text})["result"]["turn"]) == 0.0
    state = kiosk.watch.wait(lambda w: next((s for s in reversed(w.of(f"{P}/state")) if s["muted"]), None))
    assert state["volume"] == 0.25
    assert kiosk.rr("mute", {"on": False})["ok"] and kiosk.rr("volume", {"level": 1.0})["ok"]
    assert kiosk.peak_of_turn(kiosk.rr("say", {"text": text})["result"]["turn"]) > 0.5 * loud


def test_persona_put_then_switch(kiosk):
    curator = {"id": "curator", "name": "Ada", "system_prompt": "You are Ada, the curator.", "style": "Precise.",
               "language": "en", "greeting": {"en": "Hello, I am Ada."}}
    assert kiosk.rr("persona.put", curator)["ok"] is True
    assert kiosk.rec.wait_for(lambda r: any(m.persona == "curator" for m in r.of(PutPersona)), 10)
    personas = kiosk.rr("personas")["result"]
    assert personas["personas"]["curator"]["name"] == "Ada" and personas["active"] == "guide"
    assert kiosk.rr("persona", {"id": "curator"})["ok"] is True
    assert kiosk.rec.wait_for(lambda r: any(m.persona == "curator" for m in r.of(SetPersona)), 10)
    assert wait_for(lambda: kiosk.actor("think").dialogue.persona_id == "curator", 10)
    assert wait_for(lambda: kiosk.retained_state()["persona"] == "curator", 10)
    assert kiosk.rr("persona", {"id": "guide"})["ok"] is True
    assert wait_for(lambda: kiosk.actor("think").dialogue.persona_id == "guide", 10)


def test_avatar_enroll_then_switch(kiosk, caplog):
    photo = base64.b64encode(PORTRAIT.read_bytes())
    reply = kiosk.rr("avatar.enroll", b'{"name": "ada", "photo": "' + photo + b'"}', timeout_s=60)
    assert reply["ok"] is True, reply
    assert reply["result"]["name"] == "ada" and reply["result"]["head_px"] > 128
    assert "ada" in kiosk.rr("avatars")["result"]["avatars"]
    with caplog.at_level(logging.INFO, logger="runtime.actors.render"):
        assert kiosk.rr("avatar", {"name": "ada"})["ok"] is True
        assert kiosk.rec.wait_for(lambda r: any(m.avatar == "ada" for m in r.of(SetAvatar)), 10)
        assert wait_for(lambda: "avatar: ada" in caplog.text, 20)
    assert wait_for(lambda: kiosk.retained_state()["avatar"] == "ada", 10)
    # The avatar on show cannot be removed; another one can.
    assert kiosk.rr("avatar.remove", {"name": "ada"})["error"]["code"] == "avatar-in-use"
    assert kiosk.rr("avatar", {"name": "default"})["ok"] is True
    assert kiosk.rr("avatar.remove", {"name": "ada"})["ok"] is True
    assert "ada" not in kiosk.rr("avatars")["result"]["avatars"]


def test_voice_switch_to_a_voice_file(kiosk, tmp_path, caplog):
    joe = ModelStore(kiosk.device.models.root).locate("tts-piper-joe", "*.onnx")
    for folder in (tmp_path, kiosk.state_dir / "piper"):
        folder.mkdir(exist_ok=True)
        voice = folder / "joe-copy.onnx"
        shutil.copyfile(joe, voice)
        shutil.copyfile(f"{joe}.json", f"{voice}.json")
    # A voice file is a path: from the fleet only inside the model store or the state directory.
    outside = kiosk.rr("voice", {"id": str(tmp_path / "joe-copy.onnx")})
    assert outside["ok"] is False and outside["error"]["code"] == "config-path-not-remote", outside
    with caplog.at_level(logging.INFO, logger="runtime.actors.speak"):
        assert kiosk.rr("voice", {"id": str(voice)})["ok"] is True
        assert wait_for(lambda: f"voice: {voice}" in caplog.text, 30)
    turn = kiosk.rr("say", {"text": "My new voice."})["result"]["turn"]
    assert kiosk.said_turn(turn)
    assert wait_for(lambda: kiosk.retained_state()["voice"] == str(voice), 10)
    assert kiosk.rr("voice", {"id": "tts-piper-joe"})["ok"] is True


def test_voice_switch_to_an_enrolled_voice(kiosk):
    import numpy as np

    from runtime.voice import bundle

    heart = ModelStore(kiosk.device.models.root).locate("tts-kokoro-voices") / "af_heart.bin"
    bundle.save(kiosk.state_dir, "anna", np.fromfile(heart, dtype=np.float32), {"language": "en"})
    assert "anna" in {v["id"] for v in kiosk.rr("voices")["result"]["voices"]}
    assert kiosk.rr("voice", {"id": "anna"})["result"]["changed"] == ["speak.voice"]
    turn = kiosk.rr("say", {"text": "I speak with an enrolled voice."})["result"]["turn"]
    assert kiosk.said_turn(turn, 60)
    assert wait_for(lambda: kiosk.retained_state()["voices"]["en"] == "anna", 10)
    assert kiosk.rr("voice", {"id": "tts-piper-joe"})["result"]["changed"] == ["speak.voice"]
    bundle.remove(kiosk.state_dir, "anna")


def test_config_get_and_apply_live_and_persisted(kiosk):
    got = kiosk.rr("config.get")["result"]
    assert got["config"]["remote"]["device_id"] == KIOSK and got["config"]["play"]["device"] == "none"
    # config.apply replaces what operators applied before (the persona.put of an earlier test).
    assert "curator" in got["config"]["personas"]
    reply = kiosk.rr("config.apply", {"toml": "[play]\nvolume = 0.5\n", "version": "v2"})
    assert reply["result"] == {"version": "v2", "changed": ["personas.curator", "play.volume"], "restart": False}
    assert wait_for(lambda: kiosk.actor("play").volume == 0.5, 10)
    stored = json.loads((kiosk.device.applied_store.path).read_text())
    assert stored["version"] == "v2" and stored["overlay"] == {"play": {"volume": 0.5}}
    assert wait_for(lambda: kiosk.retained_state()["config_version"] == "v2", 10)
    # A key no actor takes live asks for a restart (after the reply); the change is kept.
    reply = kiosk.rr("config.apply", {"json": {"think": {"max_reply_tokens": 100}}, "version": "v3"})
    assert reply["result"] == {"version": "v3", "changed": ["play.volume", "think.max_reply_tokens"],
                               "restart": True}
    assert wait_for(lambda: kiosk.restarts, 10)
    assert kiosk.rr("config.get")["result"]["config"]["think"]["max_reply_tokens"] == 100
    kiosk.device.restart_pending = False  # this in-process kiosk does not restart
    assert kiosk.rr("config.apply", {"json": {}, "version": "v4"})["result"]["restart"] is True
    kiosk.device.restart_pending = False
    assert wait_for(lambda: kiosk.actor("play").volume == 1.0, 10)


def test_models_verify(kiosk):
    reply = kiosk.rr("models.verify", {"ids": ["tts-piper-joe"]}, timeout_s=120)
    assert reply["result"] == {"ok": True, "models": {"tts-piper-joe": "ok"}}


def test_a_repeated_request_is_answered_from_the_cache_not_run_twice(kiosk):
    before = len(kiosk.rec.of(Say))
    first = kiosk.rr("say", {"text": "Only once, please."}, correlation="dup-1")
    again = kiosk.rr("say", {"text": "Only once, please."}, correlation="dup-1")
    assert first == again and first["ok"] is True
    other = kiosk.rr("say", {"text": "Only once, please."}, correlation="dup-2")
    assert other["result"]["turn"] > first["result"]["turn"]  # positive control: a new request runs
    assert kiosk.rec.wait_for(lambda r: len(r.of(Say)) >= before + 2, 10)
    assert len([m for m in kiosk.rec.of(Say) if m.text == "Only once, please."]) == 2


BAD = [
    ("say", "not json", "mqtt-bad-payload"),
    ("say", '{"text": 5}', "command-invalid"),
    ("say", '{"text": "   "}', "command-invalid"),
    ("say", '["hello"]', "command-invalid"),
    ("say", '{"text": "hi", "loud": true}', "command-invalid"),
    ("dance", "{}", "command-unknown"),
    ("dance", "not json", "command-unknown"),
    ("interrupt", '{"now": 1}', "command-invalid"),
    ("volume", '{"level": "loud"}', "command-invalid"),
    ("volume", '{"level": 1.5}', "command-invalid"),
    ("volume", "{}", "command-invalid"),
    ("mute", '{"on": "yes"}', "command-invalid"),
    ("mute", '{"on": 1}', "command-invalid"),
    ("persona", '{"id": "nobody"}', "think-unknown-persona"),
    ("persona", '{"id": 7}', "command-invalid"),
    ("persona.put", '{"id": "x", "name": "X", "system_prompt": "p", "max_sentences": "many"}', "command-invalid"),
    ("persona.put", '{"id": "x", "name": "X", "system_prompt": "p", "mood": "sad"}', "command-invalid"),
    ("persona.put", '{"id": "x", "name": "", "system_prompt": "p"}', "command-invalid"),
    ("avatar", '{"name": "ghost"}', "avatar-unknown"),
    ("avatar", '{"name": "../etc"}', "command-invalid"),
    ("avatar.enroll", '{"name": "x", "photo": "!!not base64!!"}', "command-invalid"),
    ("avatar.enroll", '{"name": "Bad Name", "photo": "aGVsbG8="}', "command-invalid"),
    ("avatar.enroll", '{"name": "x", "photo": "aGVsbG8="}', "avatar-bad-image"),
    ("avatar.remove", '{"name": "ghost"}', "avatar-unknown"),
    ("voice", '{"id": "tts-nope"}', "tts-voice-unknown"),
    ("voice", '{"id": "asr-whisper-base"}', "tts-voice-unknown"),
    ("models.verify", '{"ids": ["nope"]}', "model-unknown"),
    ("models.verify", '{"ids": "tts-piper-joe"}', "command-invalid"),
    ("config.apply", '{"json": {"play": {"volum": 0.5}}, "version": "typo"}', "config-invalid"),
    ("config.apply", '{"json": {"play": {"volume": "loud"}}, "version": "bad-type"}', "config-invalid"),
    ("config.apply", '{"json": {"think": {"persona": "nobody"}}, "version": "v9"}', "config-invalid"),
    ("config.apply", '{"toml": "[play\\nvolume = ", "version": "v9"}', "config-syntax"),
    ("config.apply", '{"json": {"play": {"volume": 0.5}}}', "command-invalid"),
    ("config.apply", '{"json": {}, "toml": "", "version": "v9"}', "command-invalid"),
    ("config.apply", '{"json": [1], "version": "v9"}', "command-invalid"),
    ("config.get", '{"all": true}', "command-invalid"),
    ("restart", '{"now": true}', "command-invalid"),
    ("restart", "[]", "command-invalid"),
]


def test_bad_requests_get_a_clear_error_and_change_nothing(kiosk):
    before_config = kiosk.rr("config.get")["result"]
    before_file = kiosk.device.applied_store.path.read_bytes() if kiosk.device.applied_store.path.exists() else None
    before_turn = kiosk.bus.turns.current
    wrong = []
    for name, body, code in BAD:
        reply = kiosk.rr(name, body)
        error = reply.get("error") or {}
        if reply.get("ok") is not False or error.get("code") != code or not error.get("message") \
                or not error.get("hint") or reply.get("device") != KIOSK:
            wrong.append((name, body, reply))
    assert not wrong, wrong
    assert kiosk.rr("config.get")["result"] == before_config
    after_file = kiosk.device.applied_store.path.read_bytes() if kiosk.device.applied_store.path.exists() else None
    assert after_file == before_file
    assert "x" not in kiosk.rr("personas")["result"]["personas"]
    assert kiosk.bus.turns.current == before_turn, "a refused command opened a turn (it said or stopped something)"


def test_a_config_typo_names_the_key(kiosk):
    reply = kiosk.rr("config.apply", {"json": {"play": {"volum": 0.5}}, "version": "typo"})
    assert reply["error"]["code"] == "config-invalid"
    assert "play.volum: unknown key" in reply["error"]["errors"]


def test_oversize_requests_are_refused(kiosk):
    huge = b'{"text": "' + b"a" * (17 * 2**20) + b'"}'
    assert kiosk.rr("say", huge)["error"]["code"] == "mqtt-payload-too-large"
    photo = base64.b64encode(os.urandom(11 * 2**20))
    reply = kiosk.rr("avatar.enroll", b'{"name": "big", "photo": "' + photo + b'"}')
    assert reply["error"]["code"] == "avatar-photo-too-large"


def test_a_photo_without_a_face_is_refused(kiosk):
    cat = ModelStore(kiosk.device.models.root).path("photo-cat", "chelsea.png")
    body = b'{"name": "cat", "photo": "' + base64.b64encode(cat.read_bytes()) + b'"}'
    reply = kiosk.rr("avatar.enroll", body, timeout_s=60)
    assert reply["ok"] is False and reply["error"]["code"] == "avatar-no-face"
    assert "cat" not in kiosk.rr("avatars")["result"]["avatars"]


def test_transcripts_are_shared_only_when_configured(kiosk):
    reply = kiosk.rr("config.apply", {"json": {"remote": {"share_transcripts": True}}, "version": "share"})
    assert reply["result"]["restart"] is False
    turn = kiosk.rr("say", {"text": "Shared words here."})["result"]["turn"]
    caption = kiosk.watch.wait(lambda w: next((e for e in w.of(f"{P}/events")
                                               if e["type"] == "caption" and e["turn"] == turn), None))
    assert caption == {**caption, "who": "avatar", "text": "Shared words here."}
    assert wait_for(lambda: kiosk.retained_state().get("said", {}).get("avatar") == "Shared words here.", 10)
    assert kiosk.rr("config.apply", {"json": {}, "version": "private"})["ok"] is True
    turn = kiosk.rr("say", {"text": "Private words here."})["result"]["turn"]
    kiosk.said_turn(turn)
    kiosk.watch.wait(lambda w: any(e.get("turn") == turn and e["type"] == "turn" for e in w.of(f"{P}/events")))
    assert _no_words_in(kiosk.watch.of(f"{P}/events"), "Private words")


# --- Home Assistant ---------------------------------------------------------------------------------


def test_home_assistant_discovery_and_its_commands(kiosk):
    node = KIOSK
    configs = kiosk.watch.wait(lambda w: (found := {t: json.loads(p) for t, p, _ in w.messages
                                                    if t.startswith("homeassistant/") and t.endswith("/config")})
                               and len(found) == 7 and found)
    kinds = {t.split("/")[1] for t in configs}
    assert kinds == {"sensor", "select", "number", "switch", "text", "button"}
    persona = configs[f"homeassistant/select/{node}/persona/config"]
    assert persona["command_topic"] == f"{P}/cmd/persona" and "guide" in persona["options"]
    assert all(c["device"]["identifiers"] == [f"edge-talker-{node}"] for c in configs.values())
    # Home Assistant came back: discovery is sent again.
    seen = len(kiosk.watch.messages)
    kiosk.broker.publish("homeassistant/status", "online")
    assert kiosk.watch.wait(lambda w: sum(t.endswith("/config") for t, _, _ in w.messages[seen:]) >= 7)
    # Its commands carry no ResponseTopic: they run without a reply.
    volume = configs[f"homeassistant/number/{node}/volume/config"]
    kiosk.broker.publish(volume["command_topic"], volume["command_template"].replace("{{ value }}", "0.3"))
    assert wait_for(lambda: kiosk.retained_state()["volume"] == 0.3, 10)
    mute = configs[f"homeassistant/switch/{node}/mute/config"]
    kiosk.broker.publish(mute["command_topic"], mute["payload_on"])
    assert wait_for(lambda: kiosk.retained_state()["muted"] is True, 10)
    kiosk.broker.publish(mute["command_topic"], mute["payload_off"])
    assert kiosk.rr("volume", {"level": 1.0})["ok"]
    assert wait_for(lambda: kiosk.retained_state()["muted"] is False, 10)


def test_the_operator_command_line(kiosk):
    from tests.conftest import run_cli

    out = run_cli("remote", KIOSK, "volume", '{"level": 0.75}', "--broker", f"127.0.0.1:{kiosk.broker.port}")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["result"]["changed"] == ["play.volume"]
    out = run_cli("remote", KIOSK, "volume", '{"level": 7}', "--broker", f"127.0.0.1:{kiosk.broker.port}")
    assert out.returncode == 1 and json.loads(out.stdout)["error"]["code"] == "command-invalid"
    out = run_cli("remote", KIOSK, "volume", "{level: 7}", "--broker", f"127.0.0.1:{kiosk.broker.port}")
    assert out.returncode == 1 and "error[remote-bad-body]" in out.stderr
    out = run_cli("remote", "nobody-here", "status", "--broker", f"127.0.0.1:{kiosk.broker.port}", "--timeout", "1")
    assert out.returncode == 1 and "error[remote-no-reply]" in out.stderr
    out = run_cli("remote", KIOSK, "status", "--broker", "127.0.0.1:1", "--timeout", "1")
    assert out.returncode == 1 and "error[remote-unreachable]" in out.stderr
    assert kiosk.rr("volume", {"level": 1.0})["ok"]
