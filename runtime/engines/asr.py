"""What every ASR engine returns, and the interface the listen actor relies on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class AsrSegment:
    """A piece of the transcript with its time in the decoded audio (seconds)."""

    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True, slots=True)
class AsrResult:
    """A transcript of one stretch of audio."""

    text: str
    language: str = ""
    """ISO 639-1 code; empty when the engine does not know."""
    segments: tuple[AsrSegment, ...] = field(default=())


class AsrEngine(Protocol):
    """Speech to text on 16 kHz float32 mono audio."""

    def transcribe(self, audio: np.ndarray, language: str = "auto") -> AsrResult:
        """The best transcript of the whole audio (for finals)."""

    def partial(self, audio: np.ndarray, language: str = "auto") -> AsrResult:
        """A quick, possibly rougher transcript of audio still being spoken."""
