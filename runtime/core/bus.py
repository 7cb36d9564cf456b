"""ZeroMQ bus: the wire codec, the XSUB/XPUB forwarder, and publish/subscribe helpers.

Wire format: multipart ``[topic, header, payload...]``. The header is a msgpack map of the
message's plain fields plus a description (dtype, shape) of each payload frame; payloads are raw
bytes sent zero-copy. Every actor publishes into the forwarder's XSUB side and subscribes at its
XPUB side, so actors never know each other's addresses and any of them can live in another
process (ipc://) or on another box (tcp://) without code changes.
"""

from __future__ import annotations

import enum
import functools
import logging
import threading
import time
import typing
from collections.abc import Iterable, Sequence
from dataclasses import fields
from typing import Any

import msgpack
import numpy as np
import zmq

from runtime.core.errors import BusFault
from runtime.core.messages import REGISTRY, Heartbeat, Message, payload_fields

_LOGGER = logging.getLogger(__name__)

_PAYLOAD_KEY = "_p"
_FORWARDER_QUEUE = 4
"""Messages the in-process forwarder holds per subscriber (beyond the subscriber's own queue)."""
_SUBSCRIBE_ALL = b"\x01"


# --- codec ------------------------------------------------------------------------------------


def encode(msg: Message) -> list[Any]:
    """Message -> multipart frames; array payloads are passed as buffers, not copied."""
    cls = type(msg)
    payload_names = payload_fields(cls)
    header: dict[str, Any] = {}
    frames: list[Any] = []
    described = []
    for f in fields(cls):
        value = getattr(msg, f.name)
        if f.name in payload_names:
            if isinstance(value, np.ndarray):
                value = np.ascontiguousarray(value)
                described.append([f.name, value.dtype.str, list(value.shape)])
                frames.append(memoryview(value).cast("B") if value.size else b"")
            else:
                described.append([f.name, None, None])
                frames.append(bytes(value))
        else:
            header[f.name] = value
    header[_PAYLOAD_KEY] = described
    return [cls.TOPIC.encode(), msgpack.packb(header, use_bin_type=True), *frames]


def decode(frames: Sequence[Any]) -> Message:
    """Multipart frames -> message; payload arrays are read-only views of the received frames."""
    if len(frames) < 2:
        raise BusFault("bus-bad-message", f"expected at least 2 frames, got {len(frames)}")
    topic = _bytes(frames[0]).decode("utf-8", "replace")
    cls = REGISTRY.get(topic)
    if cls is None:
        raise BusFault("bus-unknown-topic", f"no message type for topic {topic!r}")
    try:
        header = msgpack.unpackb(_bytes(frames[1]), raw=False)
        described = header.pop(_PAYLOAD_KEY)
        if len(described) != len(frames) - 2:
            raise ValueError(f"{len(described)} payloads described, {len(frames) - 2} sent")
        for (name, dtype, shape), frame in zip(described, frames[2:], strict=True):
            buf = frame.buffer if isinstance(frame, zmq.Frame) else frame
            if dtype is None:
                header[name] = bytes(buf)
            else:
                header[name] = np.frombuffer(buf, dtype=np.dtype(dtype)).reshape(shape)
        enums = _enum_fields(cls)
        for key, value in header.items():
            if isinstance(value, list):
                header[key] = tuple(value)
            elif key in enums:
                header[key] = enums[key](value)  # an unknown value is a bad message
        return cls(**header)
    except (ValueError, TypeError, KeyError, msgpack.UnpackException) as err:
        raise BusFault("bus-bad-message", f"cannot decode {topic!r}: {err}") from err


@functools.cache
def _enum_fields(cls: type[Message]) -> dict[str, type[enum.Enum]]:
    """Fields of a message class typed with an enum: decoded back into that enum."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in fields(cls)
            if isinstance(hints.get(f.name), type) and issubclass(hints[f.name], enum.Enum)}


def _bytes(frame: Any) -> bytes:
    return frame.bytes if isinstance(frame, zmq.Frame) else bytes(frame)


# --- forwarder --------------------------------------------------------------------------------


class TurnClock:
    """The conversation's epoch, shared by every actor of the process: it outlives any one actor,
    so an actor restarted after a crash starts at the current turn (not 0, which every other
    actor would take for stale) and the next turn it opens is newer than any seen before."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._turn = 0

    @property
    def current(self) -> int:
        """The newest turn opened or seen."""
        return self._turn

    def observe(self, turn: int) -> None:
        """A turn seen on the bus (an Interrupt, possibly from another process)."""
        with self._lock:
            self._turn = max(self._turn, turn)

    def next(self) -> int:
        """Open a new turn: newer than every turn opened or seen."""
        with self._lock:
            self._turn += 1
            return self._turn


class Bus:
    """The process's ZeroMQ context and the forwarder every actor publishes through."""

    def __init__(self, pub_endpoint: str, sub_endpoint: str, *, hwm: int = 1000,
                 context: zmq.Context | None = None) -> None:
        self.context = context or zmq.Context.instance()
        self.hwm = hwm
        self._requested = (pub_endpoint, sub_endpoint)
        self.pub_endpoint = pub_endpoint
        """Where publishers connect (the forwarder's XSUB side), resolved after start()."""
        self.sub_endpoint = sub_endpoint
        """Where subscribers connect (the forwarder's XPUB side), resolved after start()."""
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._control_endpoint = f"inproc://edge-talker-bus-control-{id(self)}"
        self.turns = TurnClock()
        """The conversation's turn, owned here so it survives actor restarts."""

    def start(self) -> None:
        """Bind both sides and start forwarding; raises BusFault when an endpoint is taken."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._ready.clear()
        self._thread = threading.Thread(target=self._forward, name="bus", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            self._thread.join(2)
            raise self._error

    def stop(self) -> None:
        """Stop forwarding and close the forwarder's sockets."""
        if self._thread is None or not self._thread.is_alive():
            return
        with self.context.socket(zmq.PAIR) as control:
            control.linger = 0
            control.connect(self._control_endpoint)
            control.send(b"TERMINATE")
            self._thread.join(5)

    def _forward(self) -> None:
        ctx = self.context
        xsub, xpub, control = ctx.socket(zmq.XSUB), ctx.socket(zmq.XPUB), ctx.socket(zmq.PAIR)
        sockets = (xsub, xpub, control)
        try:
            for sock in sockets:
                sock.linger = 0
            # In-process, messages wait for a subscriber on its own side (its socket's rcvhwm; inproc
            # adds both sides' marks), so a subscriber of bulky messages keeps only a few. Across
            # processes the forwarder's side must absorb bursts before the network takes them.
            inproc = self._requested[1].startswith("inproc://")
            xsub.rcvhwm, xpub.sndhwm = self.hwm, _FORWARDER_QUEUE if inproc else self.hwm
            control.bind(self._control_endpoint)
            self.pub_endpoint = _bind(xsub, self._requested[0])
            self.sub_endpoint = _bind(xpub, self._requested[1])
            # Subscribe the forwarder to everything: publishers then send every message at once,
            # and filtering happens only at XPUB, so a publisher never waits for subscriptions
            # of late-joining subscribers to reach it.
            xsub.send(_SUBSCRIBE_ALL)
        except BusFault as err:
            self._error = err
            self._ready.set()
            for sock in sockets:
                sock.close()
            return
        self._ready.set()
        try:
            zmq.proxy_steerable(xsub, xpub, None, control)
        except zmq.ContextTerminated:
            _LOGGER.debug("bus forwarder: context terminated")
        finally:
            for sock in sockets:
                sock.close()

    def publisher(self, *, sync: bool = True) -> Publisher:
        """A new publisher (use it from one thread). With sync, returns only once the forwarder
        receives from it, so not even the first message is lost to ZeroMQ's slow-joiner window."""
        sock = self.context.socket(zmq.PUB)
        sock.linger = 0
        sock.sndhwm = self.hwm
        sock.connect(self.pub_endpoint)
        publisher = Publisher(sock)
        if sync:
            probe = self.subscriber([Heartbeat])
            try:
                await_echo(publisher, probe, f"publisher-{id(publisher)}")
            finally:
                probe.close()
        return publisher

    def subscriber(self, topics: Iterable[str | type[Message]]) -> zmq.Socket:
        """A new SUB socket subscribed to the given topics (message classes or topic names). Its
        queue is the bus's high-water mark; a socket of bulky messages only (Message.QUEUE) keeps
        as few as they allow (a socket that mixes them with others never drops the others)."""
        topics = list(topics)
        sock = self.context.socket(zmq.SUB)
        sock.linger = 0
        queues = [getattr(REGISTRY.get(t) if isinstance(t, str) else t, "QUEUE", 0) for t in topics]
        sock.rcvhwm = min(queues) if queues and all(queues) else self.hwm
        for topic in topics:
            name = topic if isinstance(topic, str) else topic.TOPIC
            sock.setsockopt(zmq.SUBSCRIBE, name.encode())
        sock.connect(self.sub_endpoint)
        return sock


def await_echo(publisher: Publisher, sub: zmq.Socket, name: str, timeout_s: float = 10.0) -> None:
    """Publish heartbeats named `name` until `sub` (subscribed to Heartbeat) receives one."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        publisher.publish(Heartbeat(actor=name, seq=-1))
        if sub.poll(20):
            while sub.poll(0):
                msg = receive(sub)
                if isinstance(msg, Heartbeat) and msg.actor == name:
                    return
    raise BusFault("bus-sync-timeout", f"{name}: no echo from the bus forwarder",
                   "check the [bus] endpoints in the config")


def _bind(sock: zmq.Socket, endpoint: str) -> str:
    try:
        sock.bind(endpoint)
    except zmq.ZMQError as err:
        raise BusFault(
            "bus-bind-failed",
            f"cannot bind bus endpoint {endpoint}: {err}",
            "another edge-talker may be running, or pick a free endpoint in [bus] of the config",
        ) from err
    return sock.last_endpoint.decode()


class Publisher:
    """Publishes messages on one PUB socket (not thread-safe: one per thread)."""

    def __init__(self, sock: zmq.Socket) -> None:
        self.socket = sock

    def publish(self, msg: Message) -> None:
        """Send a message; the caller must not modify its arrays afterwards (zero-copy)."""
        self.socket.send_multipart(encode(msg), copy=False)

    def close(self) -> None:
        """Close the socket."""
        self.socket.close(linger=0)


def receive(sock: zmq.Socket, flags: int = 0) -> Message:
    """Receive and decode one message from a SUB socket."""
    return decode(sock.recv_multipart(flags, copy=False))
