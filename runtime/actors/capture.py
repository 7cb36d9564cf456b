"""capture actor: where the visitor's input comes from (console now; microphone and files later)."""

from __future__ import annotations

import logging
import os
import sys
from typing import BinaryIO, TextIO

from runtime.actor import Actor
from runtime.messages import InputEnded, Interrupt, Transcript

_LOGGER = logging.getLogger(__name__)


class ConsoleSource(Actor):
    """Typed lines are the visitor's words; each line starts a new turn (and interrupts the last)."""

    def __init__(self, name: str, bus, *, stream: TextIO | BinaryIO | None = None, **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self.stream = stream if stream is not None else sys.stdin
        self._fd = -1
        self._pending = b""

    def setup(self) -> None:
        """Watch the stream's file descriptor (reads never block the loop)."""
        self._fd = self.stream.fileno()
        self.watch(self._fd, self._readable)

    def _readable(self) -> None:
        data = os.read(self._fd, 65536)
        if not data:
            self.unwatch(self._fd)
            self._line(self._pending)
            self._pending = b""
            _LOGGER.info("console input closed")
            self.publish(InputEnded(turn=self.turn, source="console"))
            return
        *lines, self._pending = (self._pending + data).split(b"\n")
        for line in lines:
            self._line(line)

    def _line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace").strip()
        if not text:
            return
        self.turn += 1
        self.publish(Interrupt(turn=self.turn, reason="new-input"))
        self.publish(Transcript(turn=self.turn, text=text, source="console"))
