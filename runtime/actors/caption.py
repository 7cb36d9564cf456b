"""caption actor: the conversation as subtitles on a text stream (the terminal by default)."""

from __future__ import annotations

import sys
from typing import TextIO

from runtime.core.actor import Actor
from runtime.core.messages import Message, ReplyChunk, Transcript


class CaptionActor(Actor):
    """Prints each final transcript as `visitor>` and each answer chunk as `avatar>`."""

    subscriptions = (Transcript, ReplyChunk)
    drop_stale = False  # a caption log keeps every line, also of interrupted turns

    def __init__(self, name: str, bus, *, stream: TextIO | None = None, **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self.stream = stream or sys.stdout

    def handle(self, msg: Message) -> None:
        """Print one line per final transcript or non-empty chunk."""
        if isinstance(msg, Transcript) and msg.final and msg.text:
            self._line(f"visitor> {msg.text}")
        elif isinstance(msg, ReplyChunk) and msg.text:
            self._line(f"avatar> {msg.text}")

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
