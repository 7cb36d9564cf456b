"""caption actor: the conversation as subtitles on a text stream (the terminal by default)."""

from __future__ import annotations

import sys
from typing import TextIO

from runtime.core.actor import Actor
from runtime.core.ledger import TurnLedger
from runtime.core.messages import Message, ReplyChunk, Transcript


class CaptionActor(Actor):
    """Prints each final transcript as `visitor>` and each answer chunk as `avatar>`; the chunks of
    an answer prepared ahead (speculation) wait for the final transcript that commits them, and
    are never printed when it is discarded."""

    subscriptions = (Transcript, ReplyChunk)
    drop_stale = False  # a caption log keeps every line, also of interrupted turns

    def __init__(self, name: str, bus, *, stream: TextIO | None = None, **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self.stream = stream or sys.stdout
        self.ledger = TurnLedger(newest=self.turn)
        """Which turns are answered ahead (their chunks wait)."""
        self._waiting: dict[int, list[str]] = {}
        """Chunks of turns answered ahead, by turn, until their final transcript."""

    def handle(self, msg: Message) -> None:
        """Print one line per final transcript or non-empty chunk."""
        if isinstance(msg, Transcript):
            self.ledger.note(msg)
            if msg.final and msg.text:
                self._line(f"visitor> {msg.text}")
                for text in self._waiting.pop(msg.turn, []):
                    self._line(f"avatar> {text}")
        elif isinstance(msg, ReplyChunk) and msg.text and msg.turn not in self.ledger.void:
            if msg.turn in self.ledger.held:
                self._waiting.setdefault(msg.turn, []).append(msg.text)
            else:
                self._line(f"avatar> {msg.text}")
        self._waiting = {turn: lines for turn, lines in self._waiting.items() if turn in self.ledger.held}

    def on_interrupt(self, msg) -> None:
        """An answer prepared ahead of a turn that a newer one replaced is never printed."""
        self.ledger.interrupt(msg)
        self._waiting = {turn: lines for turn, lines in self._waiting.items() if turn in self.ledger.held}

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()
