"""How loud the avatar's own voice comes back into the microphone, and so how loud a visitor
must be to talk over it (the echo margin of barge-in).

The gate keeps the level of each microphone frame heard while the avatar speaks. The echo's
level is the loudest stretch of them as long as the visitor's test stretch (like is compared
with like: a 20 ms peak against an 80 ms average would ask the visitor for several dB more than
the echo ever reached). A visitor who starts talking must not raise that bar with their own
voice: once a frame is louder than any echo heard, the estimate is frozen as it was before it,
for up to `hold_s`; a visitor proves themselves in that time, while a louder sentence of the
avatar's own voice is taken in when the hold runs out.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from runtime.speech.audio import SILENCE_DB

FRAME_S = 0.02
"""Length of one microphone frame (seconds)."""


class EchoGate:
    """The loudest the avatar's voice came back lately, from per-frame levels (no bus, no clock)."""

    def __init__(self, *, window_s: float, history_s: float = 2.5, recent_s: float = 0.3,
                 hold_s: float = 2.0) -> None:
        self.window = max(1, round(window_s / FRAME_S))
        """Frames in one compared stretch (the visitor's test window)."""
        self._history = round(history_s / FRAME_S)
        self._recent = round(recent_s / FRAME_S)
        """The newest frames are left out: they may be the visitor starting to talk."""
        self._hold = round(hold_s / FRAME_S)
        self._energy: deque[float] = deque()
        """Mean square of each frame taken for echo, newest last."""
        self._held: list[float] = []
        """Frames louder than any echo, kept apart while the estimate is frozen."""

    def clear(self) -> None:
        """The avatar is silent: forget its echo."""
        self._energy.clear()
        self._held.clear()

    def note(self, level_db: float) -> None:
        """One frame heard while the avatar speaks (its level in dBFS)."""
        energy = 10.0 ** (level_db / 10.0)
        if self._held or (self._known() and energy > max(self._energy)):
            self._held.append(energy)  # the visitor, or a louder echo: decided when the hold ends
            if len(self._held) >= self._hold:
                self._energy.extend(self._held)
                self._held.clear()
        else:
            self._energy.append(energy)
        while len(self._energy) > self._history:
            self._energy.popleft()

    def release(self) -> None:
        """The louder frames were the visitor (accepted as speech): they are not echo."""
        self._held.clear()

    def echo_db(self) -> float:
        """The echo's level (dBFS): its loudest stretch of `window` frames, SILENCE_DB when none."""
        energy = np.asarray(self._energy, np.float64)
        if self._known():
            energy = energy[: len(energy) - self._recent]
        if energy.size == 0:
            return SILENCE_DB
        width = min(self.window, energy.size)
        stretches = np.convolve(energy, np.full(width, 1.0 / width), mode="valid")
        return float(10.0 * np.log10(max(stretches.max(), 1e-12)))

    def _known(self) -> bool:
        """Enough of the avatar's voice was heard to leave out the newest frames."""
        return len(self._energy) >= 2 * self._recent
