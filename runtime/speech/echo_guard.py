"""A safety net for the echo canceller: while it cannot be trusted, what it lets through is turned
down, so a residual echo never sounds like a visitor.

Not converged yet. WebRTC's AEC3 must first find the delay between the reference and its echo and
converge its filter. Measured in the room test (piper's voice, the echo 6 dB over a visitor, 120 ms
away; 24 runs): in the first 0.7-1.8 s of the first answer the residual rose to -34..-41 dBFS over
80 ms (the barge-in floor is -35) while Silero called it speech, against -47..-54 dBFS from 2 s on.
The canceller's early figures cannot be trusted (AEC3 suppresses hard for ~0.6 s, then lets the
residual through before its filter holds: judged on 0.5 s of echo-return loss enhancement alone it
would be called converged at 1.1-1.4 s, before the leaks), so convergence needs `settle_s` of the
avatar's voice and then `erle_db` taken out (median over the last `window_s` where the microphone
sounds). Until then, and after the pairing moves (`reset`), the output is `guard_db` down: on a
kiosk, the first 2 s of the first answer after start-up, where a visitor must be that much louder.

Blind. A frame cancelled without the speaker's samples it is paired with (they came later than the
canceller waits) leaves the echo of what was missed in the frames after it, uncancelled, and AEC3
thrown off: measured -8..-18 dBFS for 60 ms after 90 ms of reference came 150 ms late. For
`blind_s` after such a frame the output is `blind_db` down, cancelled or passed (a reference later
than the canceller's idle time made frames look like silence was played: -15 dBFS let through).
"""

from __future__ import annotations

import logging
from collections import deque

import numpy as np

_LOGGER = logging.getLogger(__name__)


def _power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


class EchoGuard:
    """Turns the cancelled frames down while the canceller cannot be trusted (int16 frames)."""

    def __init__(self, rate: int, frame: int, *, settle_s: float = 1.8, erle_db: float = 25.0, window_s: float = 0.5,
                 guard_db: float = 20.0, sounding_dbfs: float = -50.0, blind_s: float = 0.4,
                 blind_db: float = 40.0) -> None:
        self._settle = int(settle_s * rate / frame)
        self._erle = erle_db
        self._window: deque[float] = deque(maxlen=max(1, int(window_s * rate / frame)))
        self._gain = 10 ** (-guard_db / 20)
        self._floor = (32768 * 10 ** (sounding_dbfs / 20)) ** 2
        self._blind_frames = int(blind_s * rate / frame)
        self._blind_gain = 10 ** (-blind_db / 20)
        self.converged = False
        self._sounding = 0
        self._blind = 0
        """Frames still to turn down after one cancelled without its reference."""

    def reset(self) -> None:
        """The pairing of speaker and microphone moved: the canceller converges anew."""
        self.converged, self._sounding = False, 0
        self._window.clear()

    def missed(self) -> None:
        """The next frame is cancelled without all of its reference: be blind for blind_s."""
        self._blind = self._blind_frames

    def passed(self, frame: np.ndarray) -> np.ndarray:
        """A frame passed uncancelled (nothing sounded lately, as far as the canceller knows), turned
        down while blind: its reference may be late by more than the idle time (float32)."""
        if self._blind > 0:
            self._blind -= 1
            return frame * np.float32(self._blind_gain)
        return frame

    def apply(self, mic: np.ndarray, ref: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The cancelled frame `out` (of `mic`, with `ref` paired), turned down while not trusted."""
        if self._blind > 0:
            self._blind -= 1
            return (out * self._blind_gain).astype(np.int16)
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
