"""The operator's side of the fleet contract (`edge-talker remote`): send one command to a device
or to the whole fleet over MQTT v5 and collect the replies (ResponseTopic + CorrelationData,
MessageExpiryInterval = how long we wait)."""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from runtime.config import RemoteConfig
from runtime.control.mqtt import Topics, configure_tls, password, send_at_once
from runtime.core.errors import RemoteFault


@dataclass(frozen=True)
class Reply:
    """One device's reply and how long it took."""

    body: dict
    round_trip_ms: float


class Operator:
    """A connection to the fleet's broker that sends commands and waits for replies."""

    def __init__(self, cfg: RemoteConfig, *, connect_timeout_s: float = 10.0) -> None:
        self.cfg = cfg
        self.id = f"operator-{uuid.uuid4().hex[:12]}"
        self.reply_topic = f"{cfg.topic_prefix}/reply/{self.id}"
        self._replies: queue.Queue = queue.Queue()
        self._ready = threading.Event()
        self._refused = ""
        client = self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.id,
                                           protocol=mqtt.MQTTv5)
        if cfg.username:
            client.username_pw_set(cfg.username, password(cfg))
        configure_tls(client, cfg)
        send_at_once(client)
        client.on_connect = self._on_connect
        client.on_subscribe = lambda *_: self._ready.set()
        client.on_message = self._on_message
        self._watchers: dict[str, Callable[[bytes], None]] = {}
        try:
            client.connect(cfg.host, cfg.broker_port, keepalive=30)
        except (OSError, ValueError) as err:
            raise RemoteFault("remote-unreachable", f"cannot connect to {cfg.host}:{cfg.broker_port}: {err}",
                              "check --broker (host[:port]) and that the broker runs") from err
        client.loop_start()
        if not self._ready.wait(connect_timeout_s) or self._refused:
            self.close()
            raise RemoteFault("remote-unreachable", self._refused or f"no answer from {cfg.host}:{cfg.broker_port}",
                              "check the credentials and TLS options, and the broker's log")

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._refused = f"the broker refused the connection: {reason_code}"
            self._ready.set()
            return
        client.subscribe(self.reply_topic, qos=1)

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        watcher = self._watchers.get(msg.topic)
        if watcher is not None:
            watcher(bytes(msg.payload))
        else:
            self._replies.put((time.perf_counter(), msg))

    def watch(self, topic: str, callback: Callable[[bytes], None], timeout_s: float = 10.0) -> None:
        """Call callback(payload) (on paho's thread) for every message of an exact topic, e.g. P/events."""
        subscribed = threading.Event()
        self._watchers[topic] = callback
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.subscribe(topic, qos=0)
        if not subscribed.wait(timeout_s):
            raise RemoteFault("remote-unreachable", f"could not subscribe to {topic}", "check the broker's ACL")

    def request(self, device: str | None, name: str, body: bytes, *, timeout_s: float = 10.0,
                expect: int | None = None) -> list[Reply]:
        """Send command `name` to `device` (None: the whole fleet); the replies that came within
        timeout_s (a single device: its first reply; the fleet: until `expect` replies)."""
        topics = Topics(self.cfg.topic_prefix, device or "fleet")
        topic = topics.command(name, fleet=device is None)
        correlation = uuid.uuid4().bytes
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = self.reply_topic
        props.CorrelationData = correlation
        props.MessageExpiryInterval = max(1, int(timeout_s))
        wanted = 1 if device is not None else expect
        sent = time.perf_counter()
        self.client.publish(topic, body, qos=1, properties=props)
        replies: list[Reply] = []
        deadline = sent + timeout_s
        while wanted is None or len(replies) < wanted:
            try:
                at, msg = self._replies.get(timeout=max(0.0, deadline - time.perf_counter()))
            except queue.Empty:
                break
            if getattr(msg.properties, "CorrelationData", None) != correlation:
                continue  # a late reply to an earlier request
            try:
                parsed = json.loads(msg.payload)
            except ValueError:
                parsed = {"ok": False, "error": {"code": "remote-bad-reply", "message": repr(msg.payload[:200])}}
            replies.append(Reply(parsed, round((at - sent) * 1000, 2)))
        return replies

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


def read_body(text: str | None) -> bytes:
    """The command's JSON: given inline, `@file`, or `-` for stdin; checked to be JSON here so a
    typo is caught before it reaches the fleet."""
    import sys
    from pathlib import Path

    if text is None:
        return b"{}"
    if text == "-":
        data = sys.stdin.buffer.read()
    elif text.startswith("@"):
        try:
            data = Path(text[1:]).read_bytes()
        except OSError as err:
            raise RemoteFault("remote-bad-body", f"cannot read {text[1:]}: {err}",
                              "give an existing JSON file") from err
    else:
        data = text.encode()
    try:
        json.loads(data)
    except ValueError as err:
        raise RemoteFault("remote-bad-body", f"the command body is not JSON: {err}",
                          """quote it for the shell, e.g. '{"text": "hello"}'""") from err
    return data


def operator_config(cfg: RemoteConfig, *, broker: str | None = None, prefix: str | None = None, ca: str | None = None,
                    cert: str | None = None, key: str | None = None, username: str | None = None,
                    password_env: str | None = None) -> RemoteConfig:
    """A config's [remote] with the command line's choices over it (broker as HOST[:PORT])."""
    from pydantic import ValidationError

    data = cfg.model_dump()
    data["type"] = "mqtt"
    if broker:
        host, sep, port = broker.rpartition(":")
        data["host"], data["port"] = (host, int(port)) if sep and port.isdigit() else (broker, 0)
    data["tls"].update({k: v for k, v in (("ca", ca), ("cert", cert), ("key", key)) if v})
    data.update({k: v for k, v in (("topic_prefix", prefix), ("username", username),
                                   ("password_env", password_env)) if v})
    try:
        return RemoteConfig.model_validate(data)
    except ValidationError as err:
        raise RemoteFault("remote-bad-arguments", f"bad connection options: {err.errors()[0]['msg']}",
                          "see `edge-talker remote --help`") from err
