"""idle actor: notices when the conversation is over (input ended, nothing said or playing)."""

from __future__ import annotations

import logging
import time

from runtime.core.actor import Actor
from runtime.core.messages import (
    InputEnded,
    PlaybackFinished,
    PlaybackStarted,
    ReplyChunk,
    SpeechAudio,
    SpeechStarted,
    Transcript,
)

_LOGGER = logging.getLogger(__name__)


class IdleActor(Actor):
    """Calls on_idle once the input has ended and the pipeline was quiet for idle_s."""

    subscriptions = (InputEnded, Transcript, SpeechStarted, ReplyChunk, SpeechAudio, PlaybackStarted,
                     PlaybackFinished)
    drop_stale = False
    tick_interval_s = 0.1

    def __init__(self, name: str, bus, *, on_idle, idle_s: float = 3.0, **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self.on_idle, self.idle_s = on_idle, idle_s
        self._ended = False
        self._last = time.monotonic()
        self._playing: set[tuple[int, int, int]] = set()
        self._fired = False

    def handle(self, msg) -> None:
        """Note activity."""
        self._last = time.monotonic()
        if isinstance(msg, InputEnded):
            self._ended = True
        elif isinstance(msg, PlaybackStarted):
            self._playing.add((msg.turn, msg.index, msg.part))
        elif isinstance(msg, PlaybackFinished):
            self._playing.discard((msg.turn, msg.index, msg.part))

    def tick(self) -> None:
        """Fire when quiet long enough after the input ended."""
        if self._ended and not self._fired and not self._playing and time.monotonic() - self._last > self.idle_s:
            self._fired = True
            _LOGGER.info("conversation idle: stopping")
            self.on_idle()
