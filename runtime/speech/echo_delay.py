"""How far the echo in the microphone lags the reference it is paired with, measured from the
signals themselves (GCC-PHAT over the last second the speaker sounded).

The devices' clocks say when a sample is heard and captured, but a sound server between them
(PulseAudio, PipeWire) may report its buffering differently from what it does: measured through a
PulseAudio null sink's monitor, the echo came 19 ms before the reference the clocks paired it with,
and a canceller cannot take out an echo that comes before its reference. The canceller asks
this estimator once a second and moves the pairing when the echo comes too early.
"""

from __future__ import annotations

import numpy as np


class EchoDelay:
    """The echo's lag behind its paired reference (samples; negative: it comes first), from frames
    fed while the speaker sounds."""

    def __init__(self, rate: int, *, window_s: float = 1.0, max_lag_s: float = 0.25, every_s: float = 1.0,
                 min_peak: float = 8.0) -> None:
        self.size = int(window_s * rate)
        self.max_lag = int(max_lag_s * rate)
        self._every = int(every_s * rate)
        self._min_peak = min_peak
        self._mic = np.zeros(self.size, np.float32)
        self._ref = np.zeros(self.size, np.float32)
        self._at = 0
        self._filled = 0
        self._since = 0

    def add(self, mic: np.ndarray, ref: np.ndarray) -> int | None:
        """One frame of the microphone (before cancelling) and its paired reference; the lag when a
        new clear measurement is due, else None."""
        n = len(mic)
        idx = (self._at + np.arange(n)) % self.size
        self._mic[idx], self._ref[idx] = mic, ref
        self._at = (self._at + n) % self.size
        self._filled = min(self.size, self._filled + n)
        self._since += n
        if self._since < self._every or self._filled < self.size:
            return None
        self._since = 0
        return self.measure()

    def measure(self) -> int | None:
        """The lag of the clearest peak of the phase-transform cross-correlation, or None when no
        peak stands out (no echo heard, or the visitor talking over it)."""
        mic = np.roll(self._mic, -self._at).astype(np.float64)
        ref = np.roll(self._ref, -self._at).astype(np.float64)
        fft = 1 << (2 * self.size - 1).bit_length()
        cross = np.fft.rfft(mic, fft) * np.conj(np.fft.rfft(ref, fft))
        corr = np.fft.irfft(cross / (np.abs(cross) + 1e-9), fft)
        lags = np.concatenate([corr[-self.max_lag:], corr[: self.max_lag + 1]])
        best = int(np.argmax(lags))
        if lags[best] < self._min_peak * (np.mean(np.abs(lags)) + 1e-12):
            return None
        return best - self.max_lag
