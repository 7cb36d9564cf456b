"""The turn ledger: where each turn's answer stands, kept the same way by every actor that needs it.

Actors share nothing but the bus, so each one that cares keeps its own ledger and feeds it the
turn-protocol messages it receives (`note`) and its Interrupts (`interrupt`). The rules live here
once, instead of in the speaker, the face, the caption and the idle watch separately:

- a turn is *heard* from the visitor's first word (SpeechStarted) to its final transcript;
- a turn answered ahead (a speculative transcript) is *held*: its speech waits until the final
  transcript of that turn commits it, and it is *void* if a newer turn comes first (an Interrupt,
  e.g. `speculation` when the visitor went on after a breath);
- a turn with words is *answering* until the voice marks the end of its answer (SpeechAudio
  `last`), then *synthesized*;
- a piece of speech (turn, chunk index, sentence part) is *pending* from its synthesis (or the
  start of its playback) until its playback finished;
- an Interrupt ends every older turn: nothing more of it is heard, held, answered or played.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime.core.messages import (
    Interrupt,
    InterruptReason,
    Message,
    PlaybackFinished,
    PlaybackStarted,
    SpeechAudio,
    SpeechStarted,
    Transcript,
)

Piece = tuple[int, int, int]
"""(turn, chunk index, sentence part) of one piece of speech."""
TURNS_KEPT = 4
"""Turns each set remembers at most (the newest): a turn whose end never came (a lost message)
cannot make a kiosk's ledger grow for months."""


@dataclass
class TurnLedger:
    """The turns in flight as one actor has seen them; feed it with note() and interrupt()."""

    newest: int = 0
    """The newest turn an Interrupt started: older turns are over."""
    hearing: set[int] = field(default_factory=set)
    """Turns whose visitor's words are still being transcribed."""
    held: set[int] = field(default_factory=set)
    """Turns answered ahead of their final transcript: their speech waits."""
    void: set[int] = field(default_factory=set)
    """Turns answered ahead that a newer turn replaced before their final: nothing of their
    answer is ever said or shown (also when it arrives after the Interrupt, as it may: actors read
    control messages first)."""
    answering: set[int] = field(default_factory=set)
    """Turns with words whose answer is not yet completely synthesized."""
    synthesized: set[int] = field(default_factory=set)
    """Turns whose answer is completely synthesized (the voice sent its `last`)."""
    pending: set[Piece] = field(default_factory=set)
    """Pieces of speech synthesized or playing and not yet played to their end."""

    @property
    def in_flight(self) -> bool:
        """Some turn is still being heard, answered or played."""
        return bool(self.hearing or self.answering or self.pending)

    def said(self, turn: int) -> bool:
        """The turn's answer is completely synthesized and every piece of it was played."""
        return turn in self.synthesized and not any(p[0] == turn for p in self.pending)

    def note(self, msg: Message) -> None:
        """Take in one message of the turn protocol (others are ignored)."""
        if isinstance(msg, SpeechStarted):
            if msg.turn >= self.newest:
                self.hearing.add(msg.turn)
        elif isinstance(msg, Transcript):
            self._transcript(msg)
        elif isinstance(msg, SpeechAudio):
            if msg.last:
                self.answering.discard(msg.turn)
                self.synthesized = {t for t in self.synthesized if t >= self.newest} | {msg.turn}
            elif msg.turn >= self.newest and len(msg.pcm):
                self.pending.add((msg.turn, msg.index, msg.part))
        elif isinstance(msg, PlaybackStarted):
            if msg.turn >= self.newest:
                self.pending.add((msg.turn, msg.index, msg.part))
        elif isinstance(msg, PlaybackFinished):
            self.pending.discard((msg.turn, msg.index, msg.part))
            return
        else:
            return  # (PlaybackPosition and the rest: nothing added, nothing to trim)
        self._trim()

    def _trim(self) -> None:
        for name in ("hearing", "held", "void", "answering", "synthesized"):
            turns = getattr(self, name)
            if len(turns) > TURNS_KEPT:
                setattr(self, name, set(sorted(turns)[-TURNS_KEPT:]))
        if len({p[0] for p in self.pending}) > TURNS_KEPT:
            oldest = sorted({p[0] for p in self.pending})[-TURNS_KEPT]
            self.pending = {p for p in self.pending if p[0] >= oldest}

    def _transcript(self, msg: Transcript) -> None:
        if not (msg.final or msg.speculative):
            return  # a partial: nothing is decided by it
        if msg.speculative:
            (self.held if msg.turn >= self.newest else self.void).add(msg.turn)
        if msg.final:
            self.hearing.discard(msg.turn)
            self.held.discard(msg.turn)
        # An answer prepared ahead may be completely synthesized before its final transcript comes.
        if msg.text.strip() and msg.turn >= self.newest and msg.turn not in self.synthesized:
            self.answering.add(msg.turn)

    def interrupt(self, msg: Interrupt) -> None:
        """A newer turn started: every older one is over (with `speculation`, the visitor's
        utterance goes on as the new turn, still being heard)."""
        self.newest = max(self.newest, msg.turn)
        self.hearing = {t for t in self.hearing if t >= msg.turn}
        if msg.reason == InterruptReason.SPECULATION:
            self.hearing.add(msg.turn)
        self.void |= {t for t in self.held if t < msg.turn}
        self.held = {t for t in self.held if t >= msg.turn}
        self.answering = {t for t in self.answering if t >= msg.turn}
        self.pending = {p for p in self.pending if p[0] >= msg.turn}
        self._trim()

    def forget_other_answers(self, turn: int) -> None:
        """The final transcript of `turn` came: the face follows only its answer from now on
        (pieces of an older answer still playing no longer decide when the face rests)."""
        self.pending = {p for p in self.pending if p[0] == turn}
        self.synthesized = {t for t in self.synthesized if t == turn}
