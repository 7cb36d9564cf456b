"""think actor: final transcripts in, speakable answer chunks out, cancelled by a newer turn.

Generation checks the control socket after every token, so an Interrupt stops it within one
token. What the visitor actually heard of an interrupted answer (PlaybackFinished per chunk, when
a speaker reports it) is what the conversation memory keeps.
"""

from __future__ import annotations

import logging

from runtime.core.actor import Actor
from runtime.core.config import Persona
from runtime.core.errors import RuntimeFault
from runtime.core.messages import (
    Interrupt,
    Message,
    PlaybackFinished,
    PutPersona,
    ReplyChunk,
    SafetyEvent,
    Say,
    SetPersona,
    Transcript,
)
from runtime.speech.language import join_words

_LOGGER = logging.getLogger(__name__)


class ThinkActor(Actor):
    """Answers each final transcript with the dialogue's chunks, in order, tagged with the turn."""

    nice = 5
    abandon_on_stop = True

    subscriptions = (Transcript, PlaybackFinished, Say)
    controls = (Interrupt, SetPersona, PutPersona)
    drop_stale = False  # playback reports of an interrupted turn are exactly what memory needs

    def __init__(self, name: str, bus, *, dialogue_factory, **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self._dialogue_factory = dialogue_factory
        self.dialogue = None
        self._answer_turn = -1
        self._answer_chunks: list[str] = []
        self._played: int | None = None
        """Chunks of the last answer the speaker finished playing (None: no speaker reports)."""

    def setup(self) -> None:
        """Load the model and evaluate the personas' prompts before the first visitor."""
        self.dialogue = self._dialogue_factory()
        self.dialogue.warm()

    def handle(self, msg: Message) -> None:
        """Answer a final transcript of the current turn; say an operator's text; count played chunks."""
        if isinstance(msg, Say):
            if msg.turn >= self.turn:
                self._publish(msg.turn, self.dialogue.recite(msg.text), remember=False)
            return
        if isinstance(msg, PlaybackFinished):
            if msg.turn == self._answer_turn and not msg.interrupted:
                self._played = max(self._played or 0, msg.index + 1)
            return
        if not isinstance(msg, Transcript) or not msg.final or msg.turn < self.turn or not msg.text.strip():
            return
        self._answer(msg)

    def on_interrupt(self, msg: Interrupt) -> None:
        """Memory keeps only the chunks of the interrupted answer that were played."""
        if self._played is not None and self.dialogue.memory.turns and self._answer_turn < msg.turn:
            last = self.dialogue.memory.turns[-1]
            if last.interrupted or self._played < len(self._answer_chunks):
                last.assistant = join_words(self._answer_chunks[: self._played])
                last.interrupted = True

    def on_control(self, msg: Message) -> None:
        """Switch persona; add, change or remove one."""
        try:
            if isinstance(msg, SetPersona):
                self.dialogue.set_persona(msg.persona)
                _LOGGER.info("persona: %s", msg.persona)
            elif isinstance(msg, PutPersona):
                persona = Persona.model_validate_json(msg.persona_json) if msg.persona_json else None
                self.dialogue.put_persona(msg.persona, persona)
                _LOGGER.info("persona %s %s", msg.persona, "updated" if persona else "removed")
        except (RuntimeFault, ValueError) as err:
            _LOGGER.warning("turn %d: %s", self.turn, err)

    def _answer(self, msg: Transcript) -> None:
        self._answer_turn, self._answer_chunks, self._played = msg.turn, [], None
        stop = lambda: self.check_control() and (self.turn > msg.turn or self.stop_requested)  # noqa: E731
        self._publish(msg.turn, self.dialogue.reply(msg.text, msg.language, should_stop=stop), remember=True,
                      language=self.dialogue.language(msg.text, msg.language))

    def _publish(self, turn: int, chunks, *, remember: bool, language: str = "") -> None:
        """Publish the chunks of one answer in order, then its end marker, unless a newer turn came."""
        index = 0
        for chunk in chunks:
            if self.turn > turn or self.stop_requested:
                break
            if remember:
                self._answer_chunks.append(chunk.text)
            persona = self.dialogue.persona_id
            if chunk.safety:
                self.publish(SafetyEvent(turn=turn, category=chunk.safety, persona=persona,
                                         language=language, response=chunk.text))
            self.publish(ReplyChunk(turn=turn, text=chunk.text, index=index, emotion=chunk.emotion,
                                    intensity=chunk.intensity, persona=persona))
            index += 1
            self.check_control()
        if self.turn > turn or self.stop_requested:
            _LOGGER.info("turn %d: answer interrupted after %d chunk(s)", turn, index)
            return
        self.publish(ReplyChunk(turn=turn, text="", index=index, last=True))
