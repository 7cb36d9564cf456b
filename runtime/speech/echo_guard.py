"""A safety net for the echo canceller's first seconds: until it has been measured taking the
echo out, what it lets through is turned down, so its early residual never sounds like a visitor.

Why. WebRTC's AEC3 must first find the delay between the reference and its echo and converge its
filter. Measured in the room test (piper's voice, the echo 6 dB over a visitor, 120 ms away; 24
runs): in the first 0.7-1.8 s of the first answer the residual rose to -34..-41 dBFS over 80 ms
(the barge-in floor is -35) while Silero called it speech, against -47..-54 dBFS from 2 s on; the
canceller's own early figures cannot be trusted (AEC3 suppresses hard for ~0.6 s, then lets the
residual through before its filter holds), so convergence is judged by the echo it took out over
`settle_s` of the avatar's voice, not by the first frames.

The guard is on from the start and after the pairing moves (`reset`), and off for good once the
canceller has run `settle_s` with the speaker sounding and the echo-return loss enhancement
(microphone before over after, on frames where the echo sounds) is at least `erle_db` over the
last `window_s`: on a kiosk it costs the first seconds of the first answer. While on, a visitor
must be about `guard_db` louder to barge in; after, the canceller alone decides.
"""

from __future__ import annotations

import logging
from collections import deque

import numpy as np

_LOGGER = logging.getLogger(__name__)


def _power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


class ConvergenceGuard:
    """Turns the cancelled frames down until the canceller is measured to have converged (int16 frames)."""

    def __init__(self, rate: int, frame: int, *, settle_s: float = 1.8, erle_db: float = 25.0, window_s: float = 0.5,
                 guard_db: float = 20.0, sounding_dbfs: float = -50.0) -> None:
        self._settle = int(settle_s * rate / frame)
        self._erle = erle_db
        self._window: deque[float] = deque(maxlen=max(1, int(window_s * rate / frame)))
        self._gain = 10 ** (-guard_db / 20)
        self._floor = (32768 * 10 ** (sounding_dbfs / 20)) ** 2
        self.converged = False
        self._sounding = 0

    def reset(self) -> None:
        """The pairing of speaker and microphone moved: the canceller converges anew."""
        self.converged, self._sounding = False, 0
        self._window.clear()

    def apply(self, mic: np.ndarray, ref: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The cancelled frame `out` (of `mic`, with `ref` paired), turned down while not converged."""
        if self.converged:
            return out
        mic_power = _power(mic)
        if _power(ref) > self._floor:
            self._sounding += 1
        if mic_power > self._floor:  # the echo (or a visitor) sounds: how much of it is left
            self._window.append(10 * np.log10(mic_power / max(_power(out), 1.0)))
        if (self._sounding >= self._settle and len(self._window) == self._window.maxlen
                and float(np.median(self._window)) >= self._erle):
            self.converged = True
            _LOGGER.info("echo canceller converged (%.0f dB taken out): the early guard is off",
                         float(np.median(self._window)))
            return out
        return (out * self._gain).astype(np.int16)
