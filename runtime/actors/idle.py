"""idle actor: notices when the conversation is over (input ended and no turn in flight).

A turn is in flight from the visitor's first word until its answer was said: the recogniser and
the model may be silent for seconds while they work, so bus silence alone is not idle.
A turn is done when the voice marked the end of its answer and every piece of it finished
playing, or when a newer turn replaced it (an interrupt)."""

from __future__ import annotations

import logging
import time

from runtime.core.actor import Actor
from runtime.core.messages import (
    InputEnded,
    Interrupt,
    InterruptReason,
    PlaybackFinished,
    PlaybackStarted,
    ReplyChunk,
    SpeechAudio,
    SpeechStarted,
    Transcript,
)

_LOGGER = logging.getLogger(__name__)


class IdleActor(Actor):
    """Calls on_idle once the input has ended, no turn is in flight and the bus was quiet for
    idle_s; or after stuck_s of silence whatever is in flight (an answer that never comes)."""

    subscriptions = (InputEnded, Transcript, SpeechStarted, ReplyChunk, SpeechAudio, PlaybackStarted,
                     PlaybackFinished)
    drop_stale = False
    tick_interval_s = 0.1

    def __init__(self, name: str, bus, *, on_idle, idle_s: float = 3.0, stuck_s: float = 120.0,
                 **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self.on_idle, self.idle_s, self.stuck_s = on_idle, idle_s, stuck_s
        self._ended = False
        self._last = time.monotonic()
        self._hearing: set[int] = set()
        """Turns whose visitor's words are still being transcribed."""
        self._answering: set[int] = set()
        """Turns whose answer is not yet completely said."""
        self._answered: set[int] = set()
        """Turns whose answer is completely synthesized (of the current turn on)."""
        self._pieces: set[tuple[int, int, int]] = set()
        """Speech pieces synthesized or playing, not yet finished."""
        self._fired = False

    @property
    def in_flight(self) -> bool:
        """Some turn's answer is still being prepared, synthesized or played."""
        return bool(self._hearing or self._answering or self._pieces)

    def handle(self, msg) -> None:
        """Note activity and follow each turn to the end of its answer."""
        self._last = time.monotonic()
        if isinstance(msg, InputEnded):
            self._ended = True
        elif isinstance(msg, SpeechStarted) and msg.turn >= self.turn:
            self._hearing.add(msg.turn)
        elif isinstance(msg, Transcript) and (msg.final or msg.speculative):
            if msg.final:
                self._hearing.discard(msg.turn)
            # An answer prepared ahead may be complete before its final transcript comes.
            if msg.text.strip() and msg.turn >= self.turn and msg.turn not in self._answered:
                self._answering.add(msg.turn)
        elif isinstance(msg, SpeechAudio):
            if msg.last:
                self._answering.discard(msg.turn)
                self._answered = {t for t in self._answered if t >= self.turn} | {msg.turn}
            elif msg.turn >= self.turn:
                self._pieces.add((msg.turn, msg.index, msg.part))
        elif isinstance(msg, PlaybackStarted):
            self._pieces.add((msg.turn, msg.index, msg.part))
        elif isinstance(msg, PlaybackFinished):
            self._pieces.discard((msg.turn, msg.index, msg.part))

    def on_interrupt(self, msg: Interrupt) -> None:
        """Older turns are cancelled: nothing more of them will be said."""
        self._last = time.monotonic()
        self._hearing = {t for t in self._hearing if t >= msg.turn}
        if msg.reason == InterruptReason.SPECULATION:  # the visitor's utterance goes on as this turn
            self._hearing.add(msg.turn)
        self._answering = {t for t in self._answering if t >= msg.turn}
        self._pieces = {p for p in self._pieces if p[0] >= msg.turn}

    def tick(self) -> None:
        """Fire when quiet long enough after the input ended."""
        if not self._ended or self._fired:
            return
        quiet = time.monotonic() - self._last
        if quiet > self.stuck_s:
            _LOGGER.warning("conversation idle for %.0f s with an answer pending: stopping", quiet)
        elif self.in_flight or quiet <= self.idle_s:
            return
        self._fired = True
        _LOGGER.info("conversation idle: stopping")
        self.on_idle()
