"""What every TTS engine returns, and the interface the speak actor relies on.

A Chinese engine (sherpa-onnx TTS, a converted FastSpeech2) plugs in by implementing this: it
declares `languages` and yields Speech whose track comes from its own phoneme durations.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from runtime.speech.visemes import VisemeTrack


@dataclass(frozen=True, slots=True)
class Speech:
    """Audio of a piece of text and the mouth shapes heard in it, sample-exact."""

    audio: np.ndarray
    """float32 mono in [-1, 1]."""
    sample_rate: int
    track: VisemeTrack
    text: str


class TtsEngine(Protocol):
    """Text to speech with a viseme track."""

    sample_rate: int
    languages: tuple[str, ...]
    """ISO 639-1 codes this voice speaks."""

    def synthesize(self, text: str) -> Iterator[Speech]:
        """Speech for the text, one piece per sentence, as soon as each is ready."""
