"""What the device is doing, folded from the bus: actors' health, the last turn's numbers, events.

The MQTT actor and the API actor each feed their own Observer from their own subscriptions; both
see the same bus, so they report the same. Events are small JSON-able dicts (turn metrics,
barge-ins, faults, config changes); what the visitor or the avatar said is only in them when the
caller asks for captions (privacy by default). With a camera, only whether a visitor is present
and how many came in the last hour are kept: no image, no identity.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from typing import Any

from runtime.core.messages import (
    ActorState,
    ActorStatus,
    ConfigApplied,
    Heartbeat,
    Message,
    PlaybackStarted,
    ProcessStats,
    ReplyChunk,
    Say,
    SpeechStarted,
    Transcript,
    Visitor,
    VisitorChange,
)

SUBSCRIPTIONS: tuple[type[Message], ...] = (ActorStatus, Heartbeat, ProcessStats, ConfigApplied, Transcript,
                                            SpeechStarted, ReplyChunk, PlaybackStarted, Say, Visitor)
"""The bus messages an Observer needs."""

STATE_MIN_GAP_S = 1.0
"""A change pushes the state again at most this often (seconds)."""
_TURNS_KEPT = 8
_HOUR_S = 3600.0
_STALE_BEATS = 3.0
"""An actor whose heartbeat is older than this many heartbeat periods is not healthy."""


class StatePush:
    """When a transport pushes the device state again: soon after a change (at most every
    STATE_MIN_GAP_S), and every `every_s` anyway (the remote actor's retained state, the api
    actor's event streams)."""

    def __init__(self) -> None:
        self.dirty = False
        """Something changed since the last push."""
        self._at = 0.0

    def note(self, msg: Message, events: list[dict[str, Any]]) -> None:
        """A bus message was observed: a change of health or settings, or an event, is a change."""
        if events or isinstance(msg, (ActorStatus, ConfigApplied)):
            self.dirty = True

    def due(self, every_s: float) -> bool:
        """The state should be pushed now."""
        since = time.monotonic() - self._at
        return (self.dirty and since >= STATE_MIN_GAP_S) or since >= every_s

    def sent(self) -> None:
        """The state was pushed now."""
        self._at, self.dirty = time.monotonic(), False


class Observer:
    """Folds bus messages into health and turn metrics; feed() returns the events they make."""

    def __init__(self, *, min_silence_s: float = 0.45, heartbeat_s: float = 1.0) -> None:
        self.min_silence_s = min_silence_s
        self.heartbeat_s = heartbeat_s
        self.actors: dict[str, dict[str, Any]] = {}
        self.process: dict[str, Any] = {}
        self.last_turn: dict[str, Any] = {}
        self.barge_ins = 0
        self._turns: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self.visitor_present = False
        self._arrivals: deque[float] = deque()
        """Monotonic times visitors approached in the last hour (nothing else about them)."""

    def visitors_per_hour(self) -> int:
        """Visitors who approached in the last hour."""
        while self._arrivals and time.monotonic() - self._arrivals[0] > _HOUR_S:
            self._arrivals.popleft()
        return len(self._arrivals)

    def presence(self) -> dict[str, Any]:
        """Whether a visitor stands in front of the kiosk and how many came in the last hour."""
        return {"visitor_present": self.visitor_present, "visitors_per_hour": self.visitors_per_hour()}

    def feed(self, msg: Message, *, captions: bool = False) -> list[dict[str, Any]]:
        """Take one bus message; returns the events it makes (captions only when asked)."""
        if isinstance(msg, Heartbeat):
            if msg.seq >= 0:  # seq -1: a bus sync probe, not an actor
                self.actors.setdefault(msg.actor, {"state": ActorState.READY.value})["beat"] = time.monotonic()
            return []
        if isinstance(msg, ActorStatus):
            return self._status(msg)
        if isinstance(msg, ProcessStats):
            self.process = {"rss_mb": msg.rss_mb, "peak_rss_mb": msg.peak_rss_mb, "threads": msg.threads,
                            "cpu_s": msg.cpu_s}
            return []
        if isinstance(msg, ConfigApplied):
            return [{"type": "config", "version": msg.version, "restart": msg.restart}]
        if isinstance(msg, Visitor):
            return self._visitor(msg)
        return self._turn_event(msg, captions)

    def _visitor(self, msg: Visitor) -> list[dict[str, Any]]:
        present = msg.change != VisitorChange.LEFT
        if msg.change == VisitorChange.APPROACH:
            self._arrivals.append(time.monotonic())
        if present == self.visitor_present and msg.change != VisitorChange.APPROACH:
            return []
        self.visitor_present = present
        return [{"type": "visitor", **self.presence()}]

    def _status(self, msg: ActorStatus) -> list[dict[str, Any]]:
        entry = self.actors.setdefault(msg.actor, {})
        entry.update(state=str(msg.state), detail=msg.detail, beat=time.monotonic())
        if msg.state == ActorState.FAILED:
            return [{"type": "fault", "actor": msg.actor, "detail": msg.detail}]
        return []

    def _turn(self, turn: int) -> dict[str, Any]:
        if turn not in self._turns:
            self._turns[turn] = {"turn": turn}
            while len(self._turns) > _TURNS_KEPT:
                self._turns.popitem(last=False)
        return self._turns[turn]

    def _turn_event(self, msg: Message, captions: bool) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if isinstance(msg, Transcript) and msg.final:
            # The visitor stopped speaking silence_ms (else min_silence_s) before the endpoint; typed input at once.
            silence_ns = (msg.silence_ms * 1e6 or self.min_silence_s * 1e9) if msg.source == "asr" else 0
            self._turn(msg.turn).update(source=msg.source, heard_ns=msg.t_ns - msg.latency_ms * 1e6 - silence_ns,
                                        started_ns=msg.t_ns)
            if captions:
                events.append({"type": "caption", "who": "visitor", "turn": msg.turn, "text": msg.text})
        elif isinstance(msg, Say):
            self._turn(msg.turn).update(source="say", said_ns=msg.t_ns, started_ns=msg.t_ns)
        elif isinstance(msg, ReplyChunk) and msg.text:
            turn = self._turn(msg.turn)
            if "first_chunk_ms" not in turn and "started_ns" in turn:
                turn["first_chunk_ms"] = round((msg.t_ns - turn["started_ns"]) / 1e6, 1)
            if captions:
                events.append({"type": "caption", "who": "avatar", "turn": msg.turn, "text": msg.text})
        elif isinstance(msg, PlaybackStarted):
            events += self._first_audio(msg)
        elif isinstance(msg, SpeechStarted) and msg.during_playback:
            self.barge_ins += 1
            self._turn(msg.turn).setdefault("barge_in", True)
            events.append({"type": "barge-in", "turn": msg.turn, "barge_ins": self.barge_ins})
        return events

    def _first_audio(self, msg: PlaybackStarted) -> list[dict[str, Any]]:
        turn = self._turn(msg.turn)
        if "first_audio_ns" in turn:
            return []
        turn["first_audio_ns"] = msg.heard_ns
        metrics = {"turn": msg.turn, "source": turn.get("source", ""), "first_audio_ns": msg.heard_ns}
        if "heard_ns" in turn:
            metrics["voice_to_voice_ms"] = round((msg.heard_ns - turn["heard_ns"]) / 1e6, 1)
        if "said_ns" in turn:
            metrics["say_to_audio_ms"] = round((msg.heard_ns - turn["said_ns"]) / 1e6, 1)
        if "first_chunk_ms" in turn:
            metrics["first_chunk_ms"] = turn["first_chunk_ms"]
        self.last_turn = metrics
        return [{"type": "turn", **metrics}]

    def health(self) -> dict[str, Any]:
        """Each actor's state and heartbeat age; `ok` when every one is ready and beating."""
        now = time.monotonic()
        actors = {name: {"state": a.get("state", "unknown"), "beat_age_s": round(now - a.get("beat", now), 1),
                         **({"detail": a["detail"]} if a.get("detail") else {})}
                  for name, a in sorted(self.actors.items())}
        ok = all(a["state"] == ActorState.READY.value and a["beat_age_s"] < _STALE_BEATS * self.heartbeat_s
                 for a in actors.values())
        return {"ok": ok, "actors": actors}

    def snapshot(self) -> dict[str, Any]:
        """The observed part of the device state."""
        return {"health": self.health(), "last_turn": dict(self.last_turn), "barge_ins": self.barge_ins,
                "process": dict(self.process)}
