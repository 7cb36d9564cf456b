"""think actor: final transcripts in, speakable answer chunks out, cancelled by a newer turn.

Generation checks the control socket after every token, so an Interrupt stops it within one
token. What the visitor actually heard of an interrupted answer (PlaybackFinished per chunk, when
a speaker reports it) is what the conversation memory keeps.

A speculative transcript (the visitor paused) is answered at once, ahead of the endpoint; the
exchange enters the memory only when the final transcript of the same turn commits it. A newer
turn (the visitor went on) cancels it like any interrupted answer, and nothing of it is remembered.

The answer's first chunk owns the CPU until it is heard: the model pauses after it until the
speak actor has synthesized its first sound (SpeechAudio on a socket of its own), at most
first_audio_hold_s. On two cores the voice and the model's two threads otherwise share the cores,
and the first sound came a third of a second after the chunk instead of a tenth; the next chunk
is written while the first one plays.

With a camera ([presence]), a visitor who approaches is greeted (a turn of its own) and the
memory is forgotten the moment the visitor leaves: the next visitor starts afresh.

Between turns (while the answer plays, while the visitor thinks) the conversation so far is read
into the model ahead (`Dialogue.prepare`), in short slices that yield to any message: the next
question then costs only its own words, not the history's. While the visitor speaks, their words
so far (each partial transcript) are read ahead too (`Dialogue.read_ahead`): at the endpoint only
the last words and the answer hint are left. When the visitor pauses (SpeechPaused) all reading
ahead waits until their words come: the decode of what they said is on the way to the answer, and
on two cores a read ahead beside it made it two to three times slower.
"""

from __future__ import annotations

import logging
import time

from runtime.config import Persona
from runtime.core.actor import Actor
from runtime.core.errors import RuntimeFault
from runtime.core.messages import (
    Interrupt,
    InterruptReason,
    Message,
    PlaybackFinished,
    PutPersona,
    ReplyChunk,
    SafetyEvent,
    Say,
    SetPersona,
    SpeechAudio,
    SpeechPaused,
    Transcript,
    Visitor,
    VisitorChange,
)
from runtime.dialogue.memory import Turn
from runtime.speech.language import join_words

_LOGGER = logging.getLogger(__name__)

PAUSE_WAIT_S = 2.0
"""Longest the model waits, reading nothing ahead, for the words of a visitor's pause (seconds)."""


class ThinkActor(Actor):
    """Answers each final transcript with the dialogue's chunks, in order, tagged with the turn."""

    abandon_on_stop = True
    tick_interval_s = 0.2

    subscriptions = (Transcript, SpeechPaused, PlaybackFinished, Say)
    controls = (Interrupt, SetPersona, PutPersona, Visitor)
    drop_stale = False  # playback reports of an interrupted turn are exactly what memory needs

    def __init__(self, name: str, bus, *, dialogue_factory, greet: bool = False, greet_language: str = "",
                 first_audio_hold_s: float = 0.0, **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self.first_audio_hold_s = first_audio_hold_s
        self._dialogue_factory = dialogue_factory
        self.greet, self.greet_language = greet, greet_language
        """Greet a visitor who approaches ([presence] greet), in this language unless the persona has one."""
        self._left = False
        """The visitor left while an answer was generated: forget once it ends."""
        self.dialogue = None
        self._answer_turn = -1
        self._answer_chunks: list[str] = []
        self._played: int | None = None
        """Chunks of the last answer the speaker finished playing (None: no speaker reports)."""
        self._ahead_turn = -1
        """Turn of an answer prepared for a speculative transcript and not yet committed (-1: none)."""
        self._ahead_fate = ""
        """What became of it while it was generated: "", "keep" (committed) or "drop" (discarded)."""
        self._ahead_memory: Turn | None = None
        """Its exchange, remembered once the final transcript commits it."""
        self._unread = True
        """The memory changed since the model last read the conversation ahead (and before the first
        visitor: the question's start, its answer hint, is read ahead too)."""
        self._answering = False
        """An answer is being generated (its exchange enters the memory when it ends)."""
        self._void = -1
        """Turn whose exchange is not remembered: the visitor went on after its endpoint (-1: none)."""
        self._pause: SpeechPaused | None = None
        """The visitor's pause whose words are being decoded (None: none): reading ahead waits."""

    def setup(self) -> None:
        """Load the model and evaluate the personas' prompts before the first visitor."""
        self.dialogue = self._dialogue_factory()
        self.dialogue.warm()

    def handle(self, msg: Message) -> None:
        """Answer a final transcript of the current turn; say an operator's text; count played chunks."""
        if isinstance(msg, Say):
            if msg.turn >= self.turn:
                self._publish(msg.turn, self.dialogue.recite(msg.text), remember=False, language=msg.language)
            return
        if isinstance(msg, PlaybackFinished):
            if msg.turn == self._answer_turn and not msg.interrupted:
                self._played = max(self._played or 0, msg.index + 1)
            return
        if isinstance(msg, SpeechPaused):
            self._pause = msg
            return
        if isinstance(msg, Transcript) and self._pause is not None and (
                msg.final or msg.speculative or msg.turn != self._pause.turn or msg.end_s > self._pause.heard_s):
            self._pause = None  # the pause's words came, or the visitor went on
        if not isinstance(msg, Transcript) or msg.turn < self.turn or not msg.text.strip():
            return
        if not msg.final and not msg.speculative:
            self._read_ahead(msg)
        elif msg.speculative:
            if msg.turn != self._answer_turn:
                self._answer(msg, ahead=True)
        elif msg.final and msg.turn == self._ahead_turn:
            self._commit()
        elif msg.final:
            self._answer(msg)
            self._unread = True

    def tick(self) -> None:
        """Read the conversation ahead when nothing else is waiting; resumed on the next tick
        when a message came first."""
        if self._unread and not self.input_waiting() and not self._decoding():
            self._unread = not self.dialogue.prepare(lambda: self.check_control() or self.input_waiting())

    def _read_ahead(self, msg: Transcript) -> None:
        """The visitor is still speaking: read their words so far into the model (unless an answer
        to this turn is already prepared). Yields to any message, as the history read ahead does."""
        if msg.turn == self._answer_turn or self._decoding():
            return
        if self.dialogue.read_ahead(msg.text, lambda: self.check_control() or self.input_waiting(),
                                   msg.language):
            self._unread = False  # the history was read with it

    def _decoding(self) -> bool:
        """The listener is decoding the words of the visitor's pause (not yet cancelled by a newer
        turn, and for at most PAUSE_WAIT_S: a transcript lost on the way must not stop reading ahead)."""
        pause = self._pause
        if pause is not None and (pause.turn < self.turn or time.monotonic_ns() - pause.t_ns > PAUSE_WAIT_S * 1e9):
            self._pause = pause = None
        return pause is not None

    def _commit(self) -> None:
        """The final transcript has the words the answer was prepared for: remember the exchange."""
        if self._ahead_memory is not None:
            self.dialogue.memory.add(self._ahead_memory)
        self._ahead_turn, self._ahead_fate, self._ahead_memory = -1, "keep", None
        self._unread = True

    def on_interrupt(self, msg: Interrupt) -> None:
        """Memory keeps only the chunks of the interrupted answer that were played, and nothing of
        an answer prepared ahead that was discarded."""
        if msg.resumes >= 0 and msg.resumes == self._answer_turn and self._ahead_turn < 0:
            self._void = msg.resumes  # the visitor went on after the endpoint: one question, one answer
            if not self._answering:
                self._forget_void()
            return
        if self._ahead_turn >= 0:
            if msg.reason == InterruptReason.SPECULATION:  # the visitor went on, or the final's words differ
                self._ahead_turn, self._ahead_fate, self._ahead_memory = -1, "drop", None
                return
            # Any other new turn comes after the endpoint, so the final committed it (that message
            # may still be queued behind the generation).
            self._commit()
        if self._played is not None and self.dialogue.memory.turns and self._answer_turn < msg.turn:
            last = self.dialogue.memory.turns[-1]
            if last.interrupted or self._played < len(self._answer_chunks):
                last.assistant = join_words(self._answer_chunks[: self._played])
                last.interrupted = True
                self._unread = True

    def on_control(self, msg: Message) -> None:
        """Switch persona; add, change or remove one; greet a visitor, forget one who left."""
        if isinstance(msg, Visitor):
            self._visitor(msg)
            return
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

    def _visitor(self, msg: Visitor) -> None:
        if msg.change == VisitorChange.LEFT:
            if self._answering:
                self._left = True  # the exchange enters the memory when the answer ends: forget it then
            else:
                self._forget()
        elif msg.change == VisitorChange.APPROACH and self.greet and not self._answering:
            chunks = list(self.dialogue.greet(self.greet_language))
            if chunks:  # a turn of its own, as an operator's say
                turn = self.open_turn()
                self.publish(Interrupt(turn=turn, reason=InterruptReason.VISITOR))
                self._publish(turn, iter(chunks), remember=False, language=self.greet_language)
                _LOGGER.info("turn %d: greeted a new visitor", turn)

    def _forget(self) -> None:
        """The visitor left: nothing of their conversation stays in memory (nor an answer ahead)."""
        self.dialogue.forget()
        self._left, self._unread = False, False
        self._ahead_turn, self._ahead_fate, self._ahead_memory = -1, "", None
        self._answer_turn, self._answer_chunks, self._played = -1, [], None
        _LOGGER.info("the visitor left: conversation forgotten")

    def _answer(self, msg: Transcript, *, ahead: bool = False) -> None:
        _LOGGER.debug("turn %d: answering %.0f ms after the transcript was sent", msg.turn,
                      (time.monotonic_ns() - msg.t_ns) / 1e6)
        self._answer_turn, self._answer_chunks, self._played = msg.turn, [], None
        self._ahead_turn, self._ahead_fate, self._ahead_memory = (msg.turn if ahead else -1), "", None
        stop = lambda: self.check_control() and (self.turn > msg.turn or self.stop_requested)  # noqa: E731
        chunks = self.dialogue.reply(msg.text, msg.language, should_stop=stop, fallback=True)
        self._answering = True
        try:
            ended = self._publish(msg.turn, chunks, remember=True,
                                  language=self.dialogue.language(msg.text, msg.language))
        finally:
            chunks.close()  # the exchange enters the memory now, also when the answer was cut short
            self._answering = False
        memory = self.dialogue.memory
        if not ended and memory.turns and not memory.turns[-1].interrupted:
            # A newer turn came between the answer's last words and its end: the speaker drops
            # what it had not said yet, so the answer was cut, however much of it was written.
            memory.turns[-1].interrupted, self._unread = True, True
        self._report(self.dialogue.fault)
        if self._left:
            self._forget()
            return
        if self._void == msg.turn:
            self._forget_void()
            return
        if ahead and self._ahead_fate != "keep" and memory.turns:
            held = memory.turns.pop()  # remembered only once the final transcript commits it
            if self._ahead_fate == "":
                self._ahead_memory = held

    def _report(self, fault: RuntimeFault | None) -> None:
        """Health follows the model's server: degraded while answers are the fallback line, ready
        again with the first real answer."""
        if fault is not None and self.degraded != fault.code:
            self.degrade(fault)
        elif fault is None:
            self.recover()

    def _forget_void(self) -> None:
        """Forget the exchange of a turn the visitor went on from (its words come again, whole)."""
        if self.dialogue.memory.turns:
            self.dialogue.memory.turns.pop()
            self._unread = True
        self._void, self._answer_turn = -1, -1

    def _publish(self, turn: int, chunks, *, remember: bool, language: str = "") -> bool:
        """Publish the chunks of one answer in order, then its end marker, unless a newer turn came
        (False then)."""
        # The speak actor's speech, watched from before the first chunk until its voice is heard
        # (subscribed now, so no message is missed; closed after, so nothing queues between answers).
        voiced = self.bus.subscriber([SpeechAudio]) if remember and self.first_audio_hold_s > 0 else None
        try:
            return self._publish_chunks(turn, chunks, voiced, remember=remember, language=language)
        finally:
            if voiced is not None:
                voiced.close()

    def _publish_chunks(self, turn: int, chunks, voiced, *, remember: bool, language: str) -> bool:
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
                                    intensity=chunk.intensity, persona=persona, language=language))
            _LOGGER.debug("turn %d: chunk %d after %.0f ms", turn, index, chunk.t_ms)
            if voiced is not None and chunk.written:  # the model's first chunk (not a greeting)
                self._hold_for_voice(voiced, turn, index)
                voiced.close()
                voiced = None
            index += 1
            self.check_control()
        if self.turn > turn or self.stop_requested:
            _LOGGER.info("turn %d: answer interrupted after %d chunk(s)", turn, index)
            return False
        self.publish(ReplyChunk(turn=turn, text="", index=index, last=True))
        return True

    def _hold_for_voice(self, voiced, turn: int, index: int) -> None:
        """Wait (the model paused) until the speak actor has the first sound of chunk `index` of
        `turn`, a newer turn comes, or first_audio_hold_s passes."""
        started = time.monotonic()
        deadline = started + self.first_audio_hold_s
        while (left := deadline - time.monotonic()) > 0:
            if self.check_control() and (self.turn > turn or self.stop_requested):
                return
            if not voiced.poll(min(left, 0.05) * 1000):
                continue
            msg = self._receive(voiced)
            if isinstance(msg, SpeechAudio) and msg.turn == turn and msg.index >= index:
                _LOGGER.debug("turn %d: the model waited %.0f ms for chunk %d's voice", turn,
                              (time.monotonic() - started) * 1000, index)
                return
        _LOGGER.debug("turn %d: chunk %d's voice not ready after %.1f s; the model goes on", turn, index,
                      self.first_audio_hold_s)
