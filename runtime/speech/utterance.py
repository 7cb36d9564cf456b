"""What the turn segmenter (runtime.speech.segmenter) works on: what one frame of audio told the
detectors, an utterance and where its decodes stand, and what a decode is for."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from runtime.engines.asr import AsrResult


class JobKind(IntEnum):
    """What a decode is for; lower runs first."""

    FINAL = 0
    SPECULATIVE = 1
    PARTIAL = 2


@dataclass(frozen=True, slots=True)
class Heard:
    """What the listen loop knows after one frame of audio (samples on the input timeline)."""

    start: int
    """The oldest sample still kept (audio before it cannot be decoded)."""
    end: int
    """One past the newest sample."""
    speaking: bool
    """The phrase detector hears speech."""
    barge: bool
    """The strict, quicker detector hears speech."""
    level_db: float
    """This frame's level (dBFS)."""
    recent_db: float
    """The level of the last barge_in_min_speech_s (dBFS)."""
    phrases: tuple[tuple[int, int], ...] = ()
    """Phrases the detector ended with this frame: (first sample, one past the last)."""
    voiced: bool = True
    """The frame's last Silero window scored as speech. The phrase detector goes on "speaking" for
    pause_s after the visitor stops; a partial decode started then ran into the pause's own
    decode, which waited for it (60-250 ms in half the bench's turns)."""


@dataclass
class Utterance:
    """What the visitor says from an onset to its endpoint, and where its decodes stand."""

    id: int
    onset: int
    """Input-timeline sample where speech began (estimated)."""
    during_playback: bool
    heard_at: int = 0
    """Input-timeline sample where a detector first heard speech."""
    accepted: bool = False
    turn: int = 0
    phrase_end: int = -1
    """Input-timeline sample where the latest phrase ended (-1 while the visitor speaks)."""
    end: int = 0
    """Input-timeline sample one past the final's audio (set at the endpoint)."""
    endpoint_at: float = 0.0
    """Clock time the endpoint was detected (0 while still speaking)."""
    silence_s: float = 0.0
    """The silence that ended the utterance (seconds)."""
    next_partial_at: float = 0.0
    speculative_end: int = -1
    """Input-timeline sample one past the audio of the latest decode at a pause (-1: none)."""
    speculative: AsrResult | None = None
    speculated: str = ""
    """The words an answer is being prepared for ahead of the endpoint ("" for none)."""
