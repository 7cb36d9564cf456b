"""The MQTT v5 side of fleet control (paho-mqtt 2.x): topics, the connection with its will, TLS
and credentials, requests and their replies (ResponseTopic + CorrelationData), and the cache that
answers a repeated request without running it twice.

paho runs the socket in its own thread (loop_start) and reconnects with backoff by itself; every
callback only hands what arrived to the owner's `inbox` (a thread-safe callable), so nothing here
touches the bus or the device.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from runtime.config import RemoteConfig
from runtime.core import limits
from runtime.core.errors import RemoteFault, RuntimeFault

_LOGGER = logging.getLogger(__name__)

MAX_PAYLOAD = 16 * 2**20
"""Largest request accepted (a 10 MB photo is 13.4 MB in base64)."""
SESSION_EXPIRY_S = 600
"""The broker keeps our subscriptions and queues commands this long after we drop off (seconds);
a process start always begins a clean session, so commands from before a reboot never run."""
REPLAY_WINDOW_S = 60.0
"""A request whose CorrelationData was seen this recently is answered from the cache."""
_CACHE_ENTRIES = 512
_QUEUED_MAX = 1000
"""Messages paho may hold for a broker that is away (bounded; status and state are republished
on reconnect anyway)."""


@dataclass(frozen=True)
class Topics:
    """Every topic of one device: P = {prefix}/{device}."""

    prefix: str
    device: str

    @property
    def base(self) -> str:
        """P."""
        return f"{self.prefix}/{self.device}"

    @property
    def status(self) -> str:
        """Retained online/offline."""
        return f"{self.base}/status"

    @property
    def state(self) -> str:
        """Retained device state."""
        return f"{self.base}/state"

    @property
    def events(self) -> str:
        """QoS 0 turn metrics and faults."""
        return f"{self.base}/events"

    def command(self, name: str, *, fleet: bool = False) -> str:
        """The topic of a command to this device, or to the whole fleet."""
        return f"{self.prefix}/fleet/cmd/{name}" if fleet else f"{self.base}/cmd/{name}"

    @property
    def subscriptions(self) -> tuple[str, str]:
        """This device's commands and the fleet's."""
        return self.command("+"), self.command("+", fleet=True)

    def parse_command(self, topic: str) -> tuple[str, bool] | None:
        """(command name, is a fleet command) of a command topic; None for any other topic."""
        for fleet in (False, True):
            head = self.command("", fleet=fleet)
            if topic.startswith(head) and "/" not in topic[len(head):] and topic[len(head):]:
                return topic[len(head):], fleet
        return None


@dataclass
class Request:
    """One command as it arrived."""

    name: str
    payload: bytes
    response_topic: str = ""
    correlation: bytes | None = None
    fleet: bool = False
    expires_at: float | None = None
    """Monotonic time after which the sender no longer wants it (MessageExpiryInterval)."""
    received: float = field(default_factory=time.monotonic)
    topic: str = ""
    """The topic it came on (the command, for this device or the fleet)."""

    @classmethod
    def from_message(cls, name: str, fleet: bool, message: mqtt.MQTTMessage) -> Request:
        """Read the v5 properties of a received command."""
        props = message.properties
        expiry = getattr(props, "MessageExpiryInterval", None)
        return cls(name, bytes(message.payload), getattr(props, "ResponseTopic", "") or "",
                   getattr(props, "CorrelationData", None), fleet, time.monotonic() + expiry if expiry else None,
                   topic=message.topic)

    @property
    def expired(self) -> bool:
        """The sender's expiry passed while the request waited."""
        return self.expires_at is not None and time.monotonic() > self.expires_at

    @property
    def key(self) -> tuple[str, bytes, bytes] | None:
        """What identifies a repeat of this request: the command topic, the CorrelationData (a
        retry may come from a reconnected client with a new ResponseTopic) and the body (the same
        CorrelationData with another body is another request); None: never cached."""
        if not self.correlation:
            return None
        return self.topic, self.correlation, hashlib.sha256(self.payload).digest()


def parse_body(payload: bytes) -> Any:
    """A request's JSON body (empty payload: no arguments); mqtt-bad-payload when it is not JSON."""
    if len(payload) > MAX_PAYLOAD:
        raise RemoteFault("mqtt-payload-too-large", f"the request has {len(payload) / 2**20:.1f} MB, "
                          f"at most {MAX_PAYLOAD // 2**20} MB are accepted", "send a smaller photo or document")
    if not payload.strip():
        return {}
    return limits.load_json(payload, lambda why, hint: RemoteFault("mqtt-bad-payload", f"the request {why}", hint))


def reply_body(device: str, result: Any = None, fault: RuntimeFault | None = None) -> dict:
    """The reply contract: {"ok": true, "device", "result"} or {"ok": false, "device", "error"}."""
    if fault is not None:
        return {"ok": False, "device": device, "error": fault.as_dict()}
    return {"ok": True, "device": device, "result": result}


class ReplyCache:
    """Replies by request key for REPLAY_WINDOW_S, bounded in size."""

    def __init__(self, window_s: float = REPLAY_WINDOW_S, entries: int = _CACHE_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s, self.entries, self.clock = window_s, entries, clock
        self._replies: OrderedDict[tuple, tuple[float, bytes]] = OrderedDict()

    def get(self, key) -> bytes | None:
        """The reply sent for this key within the window, if any."""
        self._expire()
        hit = self._replies.get(key) if key else None
        return hit[1] if hit else None

    def put(self, key, reply: bytes) -> None:
        """Remember a reply."""
        if key:
            self._replies[key] = (self.clock(), reply)
            self._replies.move_to_end(key)
            self._expire()

    def _expire(self) -> None:
        now = self.clock()
        while self._replies and (len(self._replies) > self.entries
                                 or now - next(iter(self._replies.values()))[0] > self.window_s):
            self._replies.popitem(last=False)


def to_json(obj: Any) -> bytes:
    """Compact UTF-8 JSON."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def password(cfg: RemoteConfig) -> str | None:
    """The broker password from the environment variable [remote] password_env names."""
    if not cfg.password_env:
        return None
    value = os.environ.get(cfg.password_env)
    if not value:
        raise RemoteFault("remote-password-missing", f"${cfg.password_env} is not set",
                          "set it in the service's environment (systemd: an EnvironmentFile), or clear "
                          "[remote] password_env")
    return value


def configure_tls(client: mqtt.Client, cfg: RemoteConfig) -> None:
    """Server verification with [remote.tls] ca (or the system's CAs), plus a client certificate."""
    tls = cfg.tls
    if not tls.enabled:
        return
    try:
        client.tls_set(ca_certs=None if tls.ca in ("", "system") else tls.ca, certfile=tls.cert or None,
                       keyfile=tls.key or None, cert_reqs=ssl.CERT_REQUIRED)
    except (OSError, ssl.SSLError, ValueError) as err:
        raise RemoteFault("remote-tls-files", f"cannot load the TLS files of [remote.tls]: {err}",
                          "check the ca, cert and key paths and that the key belongs to the certificate") from err
    client.tls_insecure_set(tls.insecure)


def send_at_once(client: mqtt.Client) -> None:
    """Small MQTT packets go out at once (TCP_NODELAY): with Nagle's algorithm a reply or a PUBACK
    waits for the peer's delayed ACK, about 40 ms per hop."""

    def opened(_client, _userdata, sock) -> None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError) as err:  # not TCP (a proxy, a unix socket): nothing to tune
            _LOGGER.debug("TCP_NODELAY not set: %s", err)

    client.on_socket_open = opened


@dataclass(frozen=True, slots=True)
class Connected:
    """The link is up (again)."""

    since: int
    """When it connected (Unix time, seconds)."""


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The link dropped (paho reconnects by itself)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Arrived:
    """A message on a subscribed topic that is not a command (e.g. Home Assistant's status)."""

    topic: str
    payload: bytes


Arrival = Connected | Disconnected | Request | Arrived
"""What the link hands its owner."""


class Link:
    """One device's connection to the broker. `inbox` receives, on paho's thread, each Arrival."""

    def __init__(self, cfg: RemoteConfig, topics: Topics, inbox: Callable[[Arrival], object], *,
                 extra_subscriptions: tuple[str, ...] = ()) -> None:
        self.cfg, self.topics, self.inbox = cfg, topics, inbox
        self.extra = extra_subscriptions
        self.connected = threading.Event()
        self._last_problem = ""
        self._refused = False
        client = self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=topics.device,
                                           protocol=mqtt.MQTTv5)
        client.connect_timeout = 2.0
        client.max_queued_messages_set(_QUEUED_MAX)
        client.reconnect_delay_set(1, cfg.reconnect_max_s)
        client.will_set(topics.status, to_json({"online": False}), qos=1, retain=True)
        if cfg.username:
            client.username_pw_set(cfg.username, password(cfg))
        configure_tls(client, cfg)
        send_at_once(client)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        client.on_publish = self._on_publish

    def start(self) -> None:
        """Connect in the background (a broker that is down is retried with backoff, forever)."""
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = SESSION_EXPIRY_S
        self.client.connect_async(self.cfg.host, self.cfg.broker_port, self.cfg.keepalive_s, properties=props)
        self.client.loop_start()

    def stop(self, timeout_s: float = 0.5) -> None:
        """Say we are offline (a clean stop: no will), disconnect, and end paho's thread."""
        if self.connected.is_set():
            info = self.client.publish(self.topics.status, to_json({"online": False, "since": int(time.time())}),
                                       qos=1, retain=True)
            try:
                info.wait_for_publish(timeout_s)
            except (RuntimeError, ValueError) as err:
                _LOGGER.warning("offline status not delivered: %s", err)
        self.connected.clear()
        self.client.disconnect()
        stopper = threading.Thread(target=self.client.loop_stop, name="mqtt-stop", daemon=True)
        stopper.start()
        stopper.join(timeout_s + self.client.connect_timeout)

    def publish(self, topic: str, obj: Any, *, qos: int = 1, retain: bool = False,
                properties: Properties | None = None) -> mqtt.MQTTMessageInfo | None:
        """Publish JSON (or bytes as they are) when connected; dropped while away (logged at debug)."""
        if not self.connected.is_set():
            _LOGGER.debug("not connected: %s not published", topic)
            return None
        payload = obj if isinstance(obj, bytes) else to_json(obj)
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            _LOGGER.debug("%s not published: %s", topic, mqtt.error_string(info.rc))
        return info

    def reply(self, request: Request, payload: bytes) -> mqtt.MQTTMessageInfo | None:
        """Send a reply to the request's ResponseTopic with its CorrelationData."""
        if not request.response_topic:
            return None
        props = Properties(PacketTypes.PUBLISH)
        if request.correlation is not None:
            props.CorrelationData = request.correlation
        return self.publish(request.response_topic, payload, properties=props)

    # --- paho's thread ----------------------------------------------------------------------

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._problem(f"the broker refused the connection: {reason_code}")
            return
        options = SubscribeOptions(qos=1, noLocal=True)
        client.subscribe([(topic, options) for topic in (*self.topics.subscriptions, *self.extra)])
        self.connected.set()
        self._last_problem, self._refused = "", False
        _LOGGER.info("connected to mqtt%s://%s:%d as %s", "s" if self.cfg.tls.enabled else "", self.cfg.host,
                     self.cfg.broker_port, self.topics.base)
        self.inbox(Connected(int(time.time())))

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was = self.connected.is_set()
        self.connected.clear()
        if was:
            _LOGGER.warning("disconnected from the broker (%s); reconnecting", reason_code)
            self.inbox(Disconnected(str(reason_code)))

    def _on_connect_fail(self, client, userdata) -> None:
        self._problem(f"cannot reach the broker at {self.cfg.host}:{self.cfg.broker_port}")

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        if reason_code.is_failure and not self._refused:
            self._refused = True  # once per connection: the state is republished every few seconds
            _LOGGER.error("error[mqtt-publish-refused]: the broker refused a message (%s)\n"
                          "  hint: check the broker's ACL for %s/#", reason_code, self.topics.base)

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        parsed = self.topics.parse_command(message.topic)
        if parsed is None:
            self.inbox(Arrived(message.topic, bytes(message.payload)))
        else:
            self.inbox(Request.from_message(*parsed, message))

    @property
    def problem(self) -> str:
        """The last connection problem ("" once connected)."""
        return self._last_problem

    def _problem(self, text: str) -> None:
        """Log a connection problem once (not on every retry)."""
        if text != self._last_problem:
            _LOGGER.warning("%s; retrying (up to every %d s)", text, self.cfg.reconnect_max_s)
            self._last_problem = text
