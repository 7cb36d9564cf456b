"""Audio-visual offset measured from the output: mouth opening from pixels against loudness.

Per video frame, the mouth opening is the number of dark pixels in the mouth region; the audio
envelope is the RMS of the audio over the same frame interval. The lag that maximises the
cross-correlation of the two (after removing their means) is the offset: positive = the picture
is late.
"""

from __future__ import annotations

import cv2
import numpy as np

from runtime.speech.audio import rms


def mouth_opening(frames: list[np.ndarray], region: tuple[slice, slice], threshold: int = 60) -> np.ndarray:
    """Dark-pixel count of the mouth region in every frame."""
    return np.array([(cv2.cvtColor(f[region], cv2.COLOR_RGB2GRAY) < threshold).sum() for f in frames], float)


def envelope(audio: np.ndarray, rate: int, fps: float, count: int) -> np.ndarray:
    """RMS of the audio over one frame period centred on each frame's time."""
    hop = rate / fps
    spans = [(max(0, int((i - 0.5) * hop)), max(1, int((i + 0.5) * hop))) for i in range(count)]
    return np.array([rms(audio[a:b]) if b <= len(audio) else 0.0 for a, b in spans])


def offset_ms(opening: np.ndarray, loudness: np.ndarray, fps: float, max_lag_s: float = 0.3) -> float:
    """Lag of the picture behind the sound (milliseconds, one-frame resolution refined by a parabola)."""
    a = (opening - opening.mean()) / (opening.std() + 1e-9)
    b = (loudness - loudness.mean()) / (loudness.std() + 1e-9)
    max_lag = int(max_lag_s * fps)
    lags = list(range(-max_lag, max_lag + 1))
    scores = [float(np.mean(a[max(0, k):len(a) + min(0, k)] * b[max(0, -k):len(b) - max(0, k)])) for k in lags]
    best = int(np.argmax(scores))
    shift = 0.0
    if 0 < best < len(scores) - 1:  # parabolic refinement between frames
        left, mid, right = scores[best - 1], scores[best], scores[best + 1]
        denom = left - 2 * mid + right
        shift = 0.5 * (left - right) / denom if denom else 0.0
    return (lags[best] + shift) * 1000.0 / fps
