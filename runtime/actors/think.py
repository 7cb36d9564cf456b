"""think actor: final transcripts in, speakable answer chunks out, cancelled by a newer turn."""

from __future__ import annotations

import logging

from runtime.actor import Actor
from runtime.messages import Message, ReplyChunk, Transcript

_LOGGER = logging.getLogger(__name__)


class ThinkActor(Actor):
    """Answers each final transcript with the engine's chunks, in order, tagged with the turn."""

    subscriptions = (Transcript,)

    def __init__(self, name: str, bus, *, engine, **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self.engine = engine

    def handle(self, msg: Message) -> None:
        """Answer a final, non-empty transcript."""
        if not isinstance(msg, Transcript) or not msg.final or not msg.text.strip():
            return
        index = 0
        for text in self.engine.reply(msg.text):
            if self.check_control() and self.turn > msg.turn:
                _LOGGER.info("turn %d: answer interrupted after %d chunk(s)", msg.turn, index)
                return
            self.publish(ReplyChunk(turn=msg.turn, text=text, index=index))
            index += 1
        self.publish(ReplyChunk(turn=msg.turn, text="", index=index, last=True))
