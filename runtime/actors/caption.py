"""caption actor: the conversation as subtitles on a text stream (the terminal by default)."""

from __future__ import annotations

import sys
from typing import TextIO

from runtime.core.actor import Actor
from runtime.core.messages import InterruptReason, Message, ReplyChunk, Transcript

_MAX_AHEAD = 4
"""Turns answered ahead whose chunks wait for their final transcript, at most."""


class CaptionActor(Actor):
    """Prints each final transcript as `visitor>` and each answer chunk as `avatar>`; the chunks of
    an answer prepared ahead (speculation) wait for the final transcript that commits them, and
    are never printed when it is discarded."""

    subscriptions = (Transcript, ReplyChunk)
    drop_stale = False  # a caption log keeps every line, also of interrupted turns

    def __init__(self, name: str, bus, *, stream: TextIO | None = None, **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self.stream = stream or sys.stdout
        self._ahead: dict[int, list[str]] = {}
        """Chunks of turns answered ahead, by turn, until their final transcript."""

    def handle(self, msg: Message) -> None:
        """Print one line per final transcript or non-empty chunk."""
        if isinstance(msg, Transcript) and msg.speculative and msg.turn >= self.turn:
            self._ahead.setdefault(msg.turn, [])
        elif isinstance(msg, Transcript) and msg.final and msg.text:
            self._line(f"visitor> {msg.text}")
            for text in self._ahead.pop(msg.turn, []):
                self._line(f"avatar> {text}")
        elif isinstance(msg, ReplyChunk) and msg.text:
            if msg.turn in self._ahead:
                self._ahead[msg.turn].append(msg.text)
            else:
                self._line(f"avatar> {msg.text}")

    def on_interrupt(self, msg) -> None:
        """A discarded answer prepared ahead is never printed (any other new turn comes after the
        final transcript that commits the older one; a few turns are kept at most)."""
        if msg.reason == InterruptReason.SPECULATION:
            self._ahead = {turn: lines for turn, lines in self._ahead.items() if turn >= msg.turn}
        while len(self._ahead) > _MAX_AHEAD:
            self._ahead.pop(min(self._ahead))

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
