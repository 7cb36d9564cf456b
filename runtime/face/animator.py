"""Animator: what is heard now (viseme track), emotion and the clock -> renderer parameters.

Coarticulation: the mouth at time t is a weighted look at the track from 70 ms before to 80 ms
after t (the mouth anticipates the next sound), so shapes glide instead of stepping frame by
frame, except that a bilabial (m, b, p) at t presses the lips together; the jaw moves no faster
than a real one (full range in 60 ms). Idle life: blinks every 2-6 s
(sometimes double), breathing, slow head drift and saccades. Emotion blends in and out with a
time constant of 100 ms (settled after ~300 ms). With nothing heard the mouth relaxes shut.
"""

from __future__ import annotations

import math
import random

import numpy as np

from runtime.dialogue.emotion import Emotion
from runtime.face.rig import PARAMS
from runtime.speech.visemes import VisemeTrack

_LOOK_S = np.array([-0.07, -0.04, -0.01, 0.01, 0.03, 0.05, 0.07, 0.08])
"""Where the mouth looks in the track, around now (seconds): it anticipates the next sound by
~30 ms, which is what puts the picture on the sound (measured offset about 0 ms, see README)."""
_WEIGHTS = np.array([0.25, 0.5, 0.8, 1.0, 1.2, 1.0, 0.7, 0.4])
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
EMOTIONS: dict[Emotion, dict[str, float]] = {
    Emotion.NEUTRAL: {},
    Emotion.HAPPY: {"smile": 0.8, "brow_raise": 0.15},
    Emotion.SAD: {"brow_furrow": 0.5, "smile": -0.4, "head_pitch": 0.03},
    Emotion.SURPRISED: {"brow_raise": 1.0, "jaw_open": 0.12},
    Emotion.ANGRY: {"brow_furrow": 1.0, "lip_press": 0.3},
    Emotion.CONCERNED: {"brow_furrow": 0.5, "brow_raise": 0.25},
}
"""Rig offsets of each emotion at full intensity (the labels are runtime.dialogue.emotion's)."""
_BLINK_CLOSE_S, _BLINK_OPEN_S = 0.08, 0.14
_JAW_RATE = 16.0
"""Fastest jaw movement (full range per second)."""


class Animator:
    """Stateful: call params(t) with increasing clock times (seconds)."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - blink timing, not cryptography
        self._track: VisemeTrack | None = None
        self._track_start = 0.0
        self._emotion = dict.fromkeys(PARAMS, 0.0)
        self._emotion_target: dict[str, float] = {}
        self._last_t: float | None = None
        self._jaw = 0.0
        self._blinks: list[float] = []
        self._next_blink = self.rng.uniform(1.0, 4.0)
        self._gaze = (0.0, 0.0)
        self._next_saccade = self.rng.uniform(0.5, 2.0)

    def speak(self, track: VisemeTrack | None, start_s: float) -> None:
        """The track heard from clock time start_s on (None: silence)."""
        self._track, self._track_start = track, start_s

    def feel(self, emotion: str, intensity: float) -> None:
        """Blend towards an emotion."""
        base = EMOTIONS.get(emotion, {})
        self._emotion_target = {k: v * intensity for k, v in base.items()}

    def params(self, t: float) -> dict[str, float]:
        """Renderer parameters at clock time t (seconds)."""
        dt = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        out = dict.fromkeys(PARAMS, 0.0)
        self._mouth(t, out)
        # Muscles have a top speed: the jaw never jumps more than _JAW_RATE per second, also when
        # a bilabial snaps the lips shut or releases them.
        step = _JAW_RATE * dt if dt else 1.0
        out["jaw_open"] = self._jaw = self._jaw + float(np.clip(out["jaw_open"] - self._jaw, -step, step))
        self._blend_emotion(dt, out)
        self._blink(t, out)
        self._idle(t, out)
        return out

    def _mouth(self, t: float, out: dict) -> None:
        track = self._track
        if track is None:
            return
        rate = track.sample_rate
        samples = ((t - self._track_start + _LOOK_S) * rate).astype(int)
        targets = np.array([track.at(int(s)) for s in samples])
        jaw, spread, rnd, press, teeth = _WEIGHTS @ targets
        now = track.at(int((t - self._track_start) * rate))
        if now[3] >= 1.0:  # m, b, p: the lips meet, whatever the neighbours do
            jaw, press = 0.0, 1.0
        out["jaw_open"] = float(jaw)
        out["lip_spread"] = float(spread)
        out["lip_round"] = float(rnd)
        out["lip_press"] = float(max(press, 0.5 * teeth))

    def _blend_emotion(self, dt: float, out: dict) -> None:
        k = 1.0 - math.exp(-dt / 0.1) if dt else 0.0
        for name in PARAMS:
            target = self._emotion_target.get(name, 0.0)
            self._emotion[name] += (target - self._emotion[name]) * k
            out[name] += self._emotion[name]

    def _blink(self, t: float, out: dict) -> None:
        if t >= self._next_blink:
            self._blinks.append(t)
            if self.rng.random() < 0.2:
                self._blinks.append(t + 0.3)
            self._next_blink = t + self.rng.uniform(2.0, 6.0)
        amount = 0.0
        for start in self._blinks:
            x = t - start
            if 0 <= x < _BLINK_CLOSE_S:
                amount = max(amount, x / _BLINK_CLOSE_S)
            elif _BLINK_CLOSE_S <= x < _BLINK_CLOSE_S + _BLINK_OPEN_S:
                amount = max(amount, 1 - (x - _BLINK_CLOSE_S) / _BLINK_OPEN_S)
        self._blinks = [s for s in self._blinks if t - s < 1.0]
        out["blink_left"] = out["blink_right"] = amount

    def _idle(self, t: float, out: dict) -> None:
        out["head_pitch"] += 0.012 * math.sin(2 * math.pi * t / 4.2)  # breathing
        out["head_yaw"] += 0.02 * math.sin(2 * math.pi * t / 7.3) + 0.008 * math.sin(2 * math.pi * t / 2.9)
        out["head_roll"] += 0.01 * math.sin(2 * math.pi * t / 9.1 + 1.0)
        if t >= self._next_saccade:
            self._gaze = (self.rng.uniform(-0.6, 0.6), self.rng.uniform(-0.3, 0.3))
            self._next_saccade = t + self.rng.uniform(0.8, 3.0)
        out["gaze_x"], out["gaze_y"] = self._gaze
