"""A hostile operator and visitor (issue #27, items 2, 3 and 5) against the product's actors in
this process, a real Mosquitto broker and mosquitto_rr as the operator: files named by operators
are confined, text from outside never reaches a voice or a caption raw, a replayed CorrelationData
with another body runs, numbers are not taken from text, and hints say what the fleet can do."""

from __future__ import annotations

import base64
import json
import os
import re

import pytest

from runtime.core.messages import PutPersona, ReplyChunk, Transcript
from tests.test_remote import PORTRAIT, FleetKiosk, P


@pytest.fixture(scope="module")
def kiosk(tmp_path_factory, default_avatar, broker):
    the_kiosk = FleetKiosk(tmp_path_factory.mktemp("kiosk"), default_avatar, broker)
    try:
        assert the_kiosk.watch.wait(lambda w: w.of(f"{P}/status")), "the device never published its status"
        yield the_kiosk
    finally:
        the_kiosk.close()


SECRET = "hunter2-ZEBRA-9431"


def _persona(facts_file: str, pid: str = "leak") -> dict:
    return {"id": pid, "name": "Leak", "system_prompt": "You are a guide.", "facts_file": facts_file}


def _refusal(reply: dict, path: str) -> str:
    """The refusal's text with the path taken out (to compare refusals of different paths)."""
    assert reply["ok"] is False, reply
    text = json.dumps(reply["error"])
    assert SECRET not in text and "root:" not in text
    return text.replace(json.dumps(path)[1:-1], "P")


def test_facts_file_is_confined_to_the_config_and_state_directories(kiosk, tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text(f"The value of SECRET_TOKEN is {SECRET}.\n")
    # Outside the allowed directories: refused, and the refusal is the same whether the file exists.
    refusals = {path: _refusal(kiosk.rr("persona.put", _persona(path)), path)
                for path in ("/proc/self/environ", "/etc/shadow", str(outside), str(tmp_path / "missing.txt"))}
    assert len(set(refusals.values())) == 1, refusals
    assert "allowed directory" in next(iter(refusals.values()))
    # Inside the state directory: a FIFO is refused at once (no hang), a link out of it too.
    state = kiosk.state_dir
    os.mkfifo(state / "facts.fifo")
    (state / "link.txt").symlink_to(outside)
    for name, why in (("facts.fifo", "not a regular file"), ("link.txt", "allowed directory")):
        reply = kiosk.rr("persona.put", _persona(str(state / name)), timeout_s=30)
        assert why in _refusal(reply, str(state / name)), reply
    big = state / "big.txt"
    big.write_bytes(b"x" * (300 * 1024))
    assert "at most" in _refusal(kiosk.rr("persona.put", _persona(str(big))), str(big))
    assert "leak" not in kiosk.rr("personas")["result"]["personas"]
    # A regular file of the state directory is read; its facts reach the think actor.
    (state / "facts.txt").write_text("The cafe is on floor 2.\n")
    assert kiosk.rr("persona.put", _persona(str(state / "facts.txt"), "venue"))["ok"] is True
    assert kiosk.rec.wait_for(lambda r: any(m.persona == "venue" and "floor 2" in m.persona_json
                                            for m in r.of(PutPersona)), 10)


CONTROL = "Hello\x00 there\x1b[2J\x1b]0;pwned\x07, \x1b[31mvisitor\x1b[0m.\x07"


def test_control_characters_never_reach_a_voice_or_a_caption(kiosk):
    turns = []
    for _ in range(6):  # more than the restart-storm limit (5)
        reply = kiosk.rr("say", {"text": CONTROL})
        assert reply["ok"] is True, reply
        turns.append(reply["result"]["turn"])
    chunks = kiosk.said_turn(turns[-1], timeout_s=60)  # each say interrupts the one before
    assert " ".join(c.text for c in chunks if c.text) == "Hello there, visitor."
    assert not [e for e in kiosk.watch.of(f"{P}/events") if e.get("type") == "fault"]
    assert kiosk.running.fault is None
    # Typed at the console: the same.
    os.write(kiosk._write_fd, b"typed\x00 \x1b[1mbold\x1b[0m words\n")
    assert kiosk.rec.wait_for(lambda r: any(m.text == "typed bold words" for m in r.of(Transcript)), 30)
    assert not [m for m in kiosk.rec.of(ReplyChunk) if re.search(r"[\x00-\x08\x0b-\x1f\x7f]", m.text)]


def test_a_replayed_correlation_with_another_body_runs(kiosk):
    first = kiosk.rr("say", {"text": "First words."}, correlation="same-id")
    second = kiosk.rr("say", {"text": "Other words."}, correlation="same-id")
    assert first["ok"] and second["ok"]
    assert second["result"]["turn"] > first["result"]["turn"]  # it ran, and was not answered from the cache
    assert kiosk.said_turn(second["result"]["turn"])


def test_numbers_are_not_taken_from_text(kiosk):
    body = {"id": "strict", "name": "S", "system_prompt": "You are S.", "max_sentences": "3"}
    reply = kiosk.rr("persona.put", body)
    assert reply["ok"] is False and reply["error"]["code"] == "command-invalid", reply
    reply = kiosk.rr("config.apply", {"json": {"play": {"volume": "0.5"}}, "version": "v-text"})
    assert reply["ok"] is False and reply["error"]["code"] == "config-invalid", reply


def test_the_fleet_hint_for_a_taken_avatar_name_is_for_the_fleet(kiosk):
    photo = base64.b64encode(PORTRAIT.read_bytes()).decode()
    assert kiosk.rr("avatar.enroll", {"name": "twice", "photo": photo}, timeout_s=60)["ok"] is True
    reply = kiosk.rr("avatar.enroll", {"name": "twice", "photo": photo}, timeout_s=60)
    assert reply["error"]["code"] == "avatar-exists"
    assert "--replace" not in reply["error"]["hint"] and "avatar.remove" in reply["error"]["hint"]


def test_a_deeply_nested_body_is_refused_without_a_traceback(kiosk, caplog):
    reply = kiosk.rr("config.apply", '{"json": ' + "[" * 5000 + "]" * 5000 + ', "version": "deep"}')
    assert reply["ok"] is False and reply["error"]["code"] == "mqtt-bad-payload", reply
    reply = kiosk.rr("config.apply", {"toml": "a = " + "[" * 5000 + "]" * 5000, "version": "deep"})
    assert reply["ok"] is False and reply["error"]["code"] == "config-too-deep", reply
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text
