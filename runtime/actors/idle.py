"""idle actor: notices when the conversation is over (input ended and no turn in flight).

A turn is in flight from the visitor's first word until its answer was said: the recogniser and
the model may be silent for seconds while they work, so bus silence alone is not idle.
A turn is done when the voice marked the end of its answer and every piece of it finished
playing, or when a newer turn replaced it (an interrupt)."""

from __future__ import annotations

import logging
import time

from runtime.core.actor import Actor
from runtime.core.ledger import TurnLedger
from runtime.core.messages import (
    InputEnded,
    Interrupt,
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
        self.ledger = TurnLedger(newest=self.turn)
        """Which turns are still heard, answered or played."""
        self._fired = False

    @property
    def in_flight(self) -> bool:
        """Some turn's answer is still being prepared, synthesized or played."""
        return self.ledger.in_flight

    def handle(self, msg) -> None:
        """Note activity and follow each turn to the end of its answer."""
        self._last = time.monotonic()
        if isinstance(msg, InputEnded):
            self._ended = True
        else:
            self.ledger.note(msg)

    def on_interrupt(self, msg: Interrupt) -> None:
        """Older turns are cancelled: nothing more of them will be said."""
        self._last = time.monotonic()
        self.ledger.interrupt(msg)

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
