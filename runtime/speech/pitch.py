"""The typical pitch of a voice: median F0 of its voiced frames (normalised autocorrelation).

Enough to tell a low voice from a high one (men speak around 85-155 Hz, women 165-255 Hz); not a
pitch tracker for prosody.
"""

from __future__ import annotations

import numpy as np

from runtime.speech.audio import SAMPLE_RATE

F0_MIN, F0_MAX = 60.0, 400.0
"""Pitch range searched (hertz)."""
VOICED = 0.6
"""Normalised autocorrelation peak above which a frame is voiced."""


def median_f0(audio: np.ndarray, rate: int = SAMPLE_RATE, frame_s: float = 0.04, hop_s: float = 0.01) -> float:
    """Median F0 (hertz) of the voiced frames of mono audio; 0.0 when none is voiced."""
    frame, hop = int(frame_s * rate), int(hop_s * rate)
    if len(audio) < frame:
        return 0.0
    frames = np.lib.stride_tricks.sliding_window_view(np.asarray(audio, np.float32), frame)[::hop]
    level = np.sqrt(np.mean(frames**2, axis=1))
    frames = frames[level > 0.1 * level.max()] if level.max() > 0 else frames[:0]
    if not len(frames):
        return 0.0
    window = np.hanning(frame).astype(np.float32)
    spectrum = np.fft.rfft((frames - frames.mean(axis=1, keepdims=True)) * window, n=2 * frame)
    corr = np.fft.irfft(np.abs(spectrum) ** 2)[:, :frame]
    bias = np.fft.irfft(np.abs(np.fft.rfft(window, n=2 * frame)) ** 2)[:frame]  # the window's own taper
    corr = corr / (corr[:, :1] + 1e-12) / (bias / bias[0])
    low, high = int(rate / F0_MAX), min(int(rate / F0_MIN), frame // 2)
    lag = np.argmax(corr[:, low:high], axis=1) + low
    voiced = corr[np.arange(len(lag)), lag] > VOICED
    return float(np.median(rate / lag[voiced])) if voiced.any() else 0.0
