"""The microphone's recent audio, addressed by input-timeline sample (the listen actor's window)."""

from __future__ import annotations

import numpy as np

from runtime.core.rates import SAMPLE_RATE

_SHIFT_AT_S = 4.0
"""Old audio is let go only when this much can go at once: one shift per few seconds heard."""


class HeardAudio:
    """Audio appended frame by frame into a preallocated window (no per-frame copy of seconds of
    audio), read back by input-timeline samples; what is no longer needed is let go."""

    def __init__(self, seconds: float = 30.0) -> None:
        self._samples = np.zeros(int(seconds * SAMPLE_RATE), np.float32)
        self._filled = 0
        self.start = 0
        """Input-timeline sample of the oldest audio kept."""

    @property
    def end(self) -> int:
        """Input-timeline sample one past the newest audio."""
        return self.start + self._filled

    def begin_at(self, sample: int) -> None:
        """Place the (empty) window on the input timeline: its first audio is this sample."""
        self.start = sample - self._filled

    def append(self, audio: np.ndarray) -> None:
        """Add the newest frame (the window grows when an utterance outlasts it)."""
        if self._filled + len(audio) > len(self._samples):
            grown = np.zeros(max(2 * len(self._samples), self._filled + len(audio)), np.float32)
            grown[: self._filled] = self._samples[: self._filled]
            self._samples = grown
        self._samples[self._filled:self._filled + len(audio)] = audio
        self._filled += len(audio)

    def last(self, count: int) -> np.ndarray:
        """The newest `count` samples (a view)."""
        return self._samples[max(0, self._filled - count):self._filled]

    def between(self, start: int, end: int) -> np.ndarray:
        """A copy of the audio from `start` (or the oldest kept, if later) up to `end`."""
        return self._samples[max(start, self.start) - self.start:min(self._filled, max(0, end - self.start))].copy()

    def keep_from(self, sample: int) -> None:
        """Let go of the audio before this sample (in steps of a few seconds)."""
        drop = min(sample - self.start, self._filled)
        if drop > _SHIFT_AT_S * SAMPLE_RATE:
            self._samples[: self._filled - drop] = self._samples[drop:self._filled]
            self._filled -= drop
            self.start += drop
