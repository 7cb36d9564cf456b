"""Animator: what is heard now (viseme track), emotion, activity and the clock -> renderer parameters.

Coarticulation: the mouth at time t is a weighted look at the track from 70 ms before to 80 ms
after t (the mouth anticipates the next sound), so shapes glide instead of stepping frame by
frame; a bilabial (m, b, p) presses the lips together, and since the track is known ahead the lips
come together over the 120 ms before it and part over the 120 ms after it (three frames at 25 fps,
never a slam from a wide-open frame); the jaw moves no faster than a real one (full range in
60 ms). Idle life: blinks every 2-6 s (sometimes double; slower
when sad or concerned, more often while listening; timing random per run unless seeded),
breathing, slow head drift and saccades. Emotions are moods (runtime.face.expression.Mood): each
ramps in and out over its own span of the clock, from the words that carry it to the end of its
sentence; lip rounding and closure damp the smile, so an O or an M reads under a happy face.
Activity offsets blend with a time constant of 100 ms. With nothing heard the mouth relaxes shut.

What the render actor calls (all times are the playback clock, seconds):

- ``speak(track, start_s)`` when a piece of speech starts being heard (None: silence);
- ``feel(emotion, intensity, on_s, off_s)`` with each sentence's emotion (runtime.face.moods.EMOTIONS)
  and the span of the clock it shows over (runtime.face.expression.mood_of); without a span it
  replaces every mood from now on;
- ``set_activity(activity)`` on conversation events: SpeechStarted -> "listening" (the visitor
  speaks), final Transcript -> "thinking" (the answer is being prepared), the first
  PlaybackStarted of the answer -> "speaking", the end of playback or an Interrupt that leaves
  nothing to say -> "idle";
- ``attend(x, y)`` with where the visitor stands (runtime.core.messages.Visitor, in the picture the
  avatar is shown in), ``attend(None)`` once they left: the eyes keep to the visitor and the head
  turns a little towards them;
- ``params(t)`` once per frame, with increasing t.
"""

from __future__ import annotations

import math
import random

import numpy as np

from runtime.face.ease import smoothstep
from runtime.face.expression import RAMP_S, Mood
from runtime.face.moods import ACTIVITIES, BLINK_PACE, EMOTIONS, LISTENING_BLINK_PACE, Activity
from runtime.face.rig import PARAMS
from runtime.speech.visemes import VisemeTrack

__all__ = ["EMOTIONS", "Activity", "Animator"]

_LOOK_S = np.array([-0.07, -0.04, -0.01, 0.01, 0.03, 0.05, 0.07, 0.08])
"""Where the mouth looks in the track, around now (seconds): it anticipates the next sound by
~30 ms, which is what puts the picture on the sound (measured offset about 0 ms, see README)."""
_WEIGHTS = np.array([0.25, 0.5, 0.8, 1.0, 1.2, 1.0, 0.7, 0.4])
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
_BLINK_CLOSE_S, _BLINK_SHUT_S, _BLINK_OPEN_S = 0.09, 0.04, 0.15
"""A blink: the lid comes down in 90 ms (two or three frames at 25-30 fps, never one step), stays shut
for 40 ms (every frame rate shows it shut once) and goes back up in 150 ms."""

_JAW_RATE = 16.0
"""Fastest jaw movement (full range per second): opening, and closing when the sound needs the lips
shut (m, b, p)."""
_CLOSE_RATE = 5.5
"""Fastest closing otherwise: from a wide A to shut takes ~140 ms (three to four frames at 25 fps), so the
lips travel instead of snapping shut in one frame."""
_APPROACH_S = 0.12
"""An m, b or p is known ahead (the track is): over this long before it the lips come together,
the jaw's opening and the lips' gap easing shut where the sound starts (three frames at 25 fps; a
200 ms vowel between two closures still opens to most of its width)."""
_REOPEN_S = 0.13
"""After an m, b or p the lips part again over this long (never a wide vowel in the next frame: at
0.12 s the frame after a closure showed 69 % of the widest opening at some phases of 25 fps)."""
_WIDE = 0.85
"""The widest jaw opening of any sound (an A)."""
_HOLD_S = 0.04
"""A closure lasts at least this long on screen: a short m between two frames is still seen shut."""
_JOY_GAPE = 0.4
"""A smile narrows the jaw's opening by this much at full joy: joy widens and lifts the corners, it
does not gape."""
_JOY_WIDTH = 1.35
"""How much of the smile's outward pull an open jaw takes back (lip_spread units at full smile
and a wide open jaw): an open, smiling mouth is no wider than an open neutral one plus a little."""
_NOD_S = 0.55
"""Length of one listening nod (down and back up)."""
_NOD_PITCH = 0.03
"""Depth of a nod (radians)."""
_ATTEND_YAW, _ATTEND_PITCH = 0.028, 0.012
"""Head turn towards a visitor at the edge of the camera's view (radians): with the idle drift it stays
within the rig's +-0.06."""
_ATTEND_GAZE = 0.7
"""Gaze towards a visitor at the edge of the view (fraction of the iris travel)."""
_ATTEND_S = 0.4
"""Time constant of the head turning to follow the visitor (seconds)."""


class Animator:
    """Stateful: call params(t) with increasing clock times (seconds)."""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)  # noqa: S311 - blink timing, not cryptography (None: new each run)
        self._track: VisemeTrack | None = None
        self._closures = np.zeros((0, 2))
        self._heard_press = 0.0
        self._track_start = 0.0
        self._mood = dict.fromkeys(PARAMS, 0.0)
        self._moods: list[Mood] = []
        self._emotion = "neutral"
        self.activity = Activity.IDLE
        self._last_t: float | None = None
        self._jaw = 0.0
        self._blinks: list[tuple[float, float]] = []
        self._next_blink = self.rng.uniform(1.0, 4.0)
        self._gaze = (0.0, 0.0)
        self._gaze_now = (0.0, 0.0)
        self._next_saccade = self.rng.uniform(0.5, 2.0)
        self._next_nod = 0.0
        self._nods: list[float] = []
        self.visitor: tuple[float, float] | None = None
        """Where the visitor stands (x, y in -1..1 of the shown picture; None: nobody)."""
        self._turn = (0.0, 0.0)

    def speak(self, track: VisemeTrack | None, start_s: float) -> None:
        """The track heard from clock time start_s on (None: silence)."""
        self._track, self._track_start = track, start_s
        self._closures = _closures(track)

    def feel(self, emotion: str, intensity: float, on_s: float | None = None, off_s: float = math.inf) -> None:
        """Show an emotion (a key of EMOTIONS; unknown ones count as neutral) from clock time on_s to
        off_s, ramped in and out; without on_s it replaces every mood from now on."""
        if on_s is None:
            now = self._last_t or 0.0
            # Moods already showing fade out from now (no jump), later ones are dropped.
            self._moods = [Mood(m.emotion, m.amount * m.weight(now), now - 1.0, now + RAMP_S)
                           for m in self._moods if m.weight(now) > 0.01]
            on_s = now
        if EMOTIONS.get(emotion) and intensity > 0:
            self._moods.append(Mood(emotion, float(intensity), on_s, off_s))

    def set_activity(self, activity: str | Activity) -> None:
        """What the avatar does now: "idle", "listening", "thinking" or "speaking" (see module doc)."""
        activity = Activity(activity)
        if activity == self.activity:
            return
        self.activity = activity
        now = self._last_t or 0.0
        if activity == Activity.THINKING:  # look up and to one side, as people do when recalling
            self._gaze = (self.rng.choice((-1.0, 1.0)) * self.rng.uniform(0.45, 0.7), self.rng.uniform(-0.9, -0.6))
            self._next_saccade = now + self.rng.uniform(1.5, 2.5)
        elif activity == Activity.LISTENING:
            self._gaze = (0.0, 0.0)
            self._next_nod = now + self.rng.uniform(0.6, 1.2)
        else:
            self._next_saccade = min(self._next_saccade, now + 0.3)

    def attend(self, x: float | None, y: float = 0.0) -> None:
        """The visitor stands at (x, y), -1..1 across and down the picture the avatar is shown in
        (x: +1 = the right of that picture); None: nobody is there. The eyes glance to them now."""
        if x is None:
            self.visitor = None
            return
        first = self.visitor is None
        self.visitor = (float(np.clip(x, -1, 1)), float(np.clip(y, -1, 1)))
        if first and self.activity != Activity.THINKING:
            self._next_saccade = self._last_t or 0.0

    def params(self, t: float) -> dict[str, float]:
        """Renderer parameters at clock time t (seconds)."""
        dt = 0.0 if self._last_t is None else max(0.0, t - self._last_t)
        self._last_t = t
        out = dict.fromkeys(PARAMS, 0.0)
        forced = self._mouth(t, out)
        # Muscles have a top speed: the jaw never opens more than _JAW_RATE per second, and closes
        # at _CLOSE_RATE unless the lips are closing for an m, b or p (then as fast as it opens, on
        # the approach _closing sets out).
        up = _JAW_RATE * dt if dt else 1.0
        down = (_JAW_RATE if forced else _CLOSE_RATE) * dt if dt else 1.0
        out["jaw_open"] = self._jaw = self._jaw + float(np.clip(out["jaw_open"] - self._jaw, -down, up))
        self._blend_mood(t, dt, out)
        self._blink(t, out)
        self._idle(t, out)
        self._look(t, dt, out)
        self._nod(t, out)
        self._turn_to_visitor(dt, out)
        return out

    def _mouth(self, t: float, out: dict) -> bool:
        """The mouth's targets at t; True when the lips are closing for (or shut at) an m, b or p."""
        track = self._track
        self._heard_press = 0.0
        if track is None:
            return False
        rate = track.sample_rate
        samples = ((t - self._track_start + _LOOK_S) * rate).astype(int)
        targets = np.array([track.at(int(s)) for s in samples])
        jaw, spread, rnd, press, teeth = _WEIGHTS @ targets
        cap, forced = self._closing(t - self._track_start)
        if forced:  # m, b, p: the lips meet, whatever the neighbours do (rounded for a coming o, not open)
            jaw, press, rnd = 0.0, 1.0, min(rnd, 0.3)
        self._heard_press = 1.0 if forced else float(press)
        # (the lips themselves close in step: a photo whose lips are apart at rest presses them
        # together over the same frames)
        jaw, press = min(jaw, _WIDE * cap), max(press, 1.0 - cap)
        out["jaw_open"] = float(jaw)
        out["lip_spread"] = float(spread)
        out["lip_round"] = float(rnd)
        out["lip_press"] = float(max(press, 0.5 * teeth))
        return forced or cap < 1.0

    def _closing(self, at: float) -> tuple[float, bool]:
        """(how far the lips are from an m, b or p `at` seconds into the track, 0 shut .. 1 free;
        whether they must be shut now): shut over the sound (held at least _HOLD_S), easing towards
        the next one over _APPROACH_S and away from the last one over _REOPEN_S."""
        spans = self._closures
        if not len(spans):
            return 1.0, False
        i = int(np.searchsorted(spans[:, 0], at, side="right"))
        free = min(1.0, (spans[i, 0] - at) / _APPROACH_S) if i < len(spans) else 1.0
        if i:
            start, end = spans[i - 1]
            end = max(end, start + _HOLD_S)
            if at < end:
                return 0.0, True
            free = min(free, (at - end) / _REOPEN_S)
        return max(0.0, free), False

    def _blend_mood(self, t: float, dt: float, out: dict) -> None:
        """Moods as their ramps say, plus activity offsets blended with a 100 ms time constant."""
        k = 1.0 - math.exp(-dt / 0.1) if dt else 0.0
        steady = ACTIVITIES[self.activity]
        for name in PARAMS:
            self._mood[name] += (steady.get(name, 0.0) - self._mood[name]) * k
            out[name] += self._mood[name]
        self._moods = [m for m in self._moods if t < m.off_s]
        strongest: dict[str, float] = {}  # (a sentence running into the next of its emotion: no dip)
        for m in self._moods:
            strongest[m.emotion] = max(strongest.get(m.emotion, 0.0), m.amount * m.weight(t))
        self._emotion = max(strongest, key=strongest.get) if strongest else "neutral"
        for emotion, amount in strongest.items():
            for name, value in EMOTIONS[emotion].items():
                out[name] += value * amount
        # Rounded or closing lips pull the corners in: they win over the smile's pull outwards.
        # (the sound's own closure, not the lips' approach to it: a smile stays on the way to an m)
        out["smile"] *= 1.0 - 0.6 * min(1.0, out["lip_round"] + self._heard_press)
        # Joy does not gape: a smiling mouth opens less, and an open jaw takes back most of the
        # smile's outward pull (the corners still rise).
        joy = min(1.0, max(out["smile"], 0.0))
        out["jaw_open"] *= 1.0 - _JOY_GAPE * joy
        out["lip_spread"] -= _JOY_WIDTH * joy * min(1.0, out["jaw_open"] / 0.5)

    def _blink(self, t: float, out: dict) -> None:
        pace = BLINK_PACE.get(self._emotion, 1.0)
        often = LISTENING_BLINK_PACE if self.activity == Activity.LISTENING else 1.0
        if t >= self._next_blink:
            self._blinks.append((t, pace))
            if self.rng.random() < 0.2:
                self._blinks.append((t + 0.3 * pace, pace))
            self._next_blink = t + pace * often * self.rng.uniform(2.0, 6.0)
        amount = 0.0
        for start, slow in self._blinks:
            x = (t - start) / slow
            opens = _BLINK_CLOSE_S + _BLINK_SHUT_S
            if 0 <= x < _BLINK_CLOSE_S:  # (speeding up as it comes down, slowing as it goes up)
                amount = max(amount, (x / _BLINK_CLOSE_S) ** 1.5)
            elif _BLINK_CLOSE_S <= x < opens:
                amount = 1.0
            elif opens <= x < opens + _BLINK_OPEN_S:
                amount = max(amount, 1 - smoothstep((x - opens) / _BLINK_OPEN_S))
        self._blinks = [(s, p) for s, p in self._blinks if t - s < 1.0 * p]
        # A blink closes the lids fully even when a smile or a squint already narrowed them.
        for side in ("blink_left", "blink_right"):
            out[side] = out[side] + (1.0 - out[side]) * amount

    def _idle(self, t: float, out: dict) -> None:
        out["head_pitch"] += 0.012 * math.sin(2 * math.pi * t / 4.2)  # breathing
        out["head_yaw"] += 0.02 * math.sin(2 * math.pi * t / 7.3) + 0.008 * math.sin(2 * math.pi * t / 2.9)
        out["head_roll"] += 0.01 * math.sin(2 * math.pi * t / 9.1 + 1.0)

    def _look(self, t: float, dt: float, out: dict) -> None:
        """Saccades: the eyes jump (within ~40 ms) and hold; thinking holds the gaze up and aside."""
        if t >= self._next_saccade:
            if self.activity == Activity.THINKING:  # small drifts around the recalled spot
                gx, gy = self._gaze
                self._gaze = (float(np.clip(gx + self.rng.uniform(-0.15, 0.15), -1, 1)),
                              float(np.clip(gy + self.rng.uniform(-0.1, 0.1), -1, -0.5)))
            elif self.visitor is not None:  # small glances about the visitor's face
                cx, cy = _ATTEND_GAZE * self.visitor[0], 0.5 * _ATTEND_GAZE * self.visitor[1]
                self._gaze = (float(np.clip(cx + self.rng.uniform(-0.1, 0.1), -1, 1)),
                              float(np.clip(cy + self.rng.uniform(-0.05, 0.05), -1, 1)))
            else:
                spread = 0.25 if self.activity == Activity.LISTENING else 0.6
                self._gaze = (self.rng.uniform(-spread, spread), self.rng.uniform(-0.5 * spread, 0.5 * spread))
            self._next_saccade = t + self.rng.uniform(0.8, 3.0)
        k = 1.0 - math.exp(-dt / 0.015) if dt else 1.0
        gx, gy = self._gaze_now
        self._gaze_now = (gx + (self._gaze[0] - gx) * k, gy + (self._gaze[1] - gy) * k)
        out["gaze_x"] = float(np.clip(out["gaze_x"] + self._gaze_now[0], -1, 1))
        out["gaze_y"] = float(np.clip(out["gaze_y"] + self._gaze_now[1], -1, 1))

    def _turn_to_visitor(self, dt: float, out: dict) -> None:
        """The head turns a little towards the visitor (and back to the middle once they left)."""
        x, y = self.visitor or (0.0, 0.0)
        target = (_ATTEND_YAW * x, _ATTEND_PITCH * y)
        k = 1.0 - math.exp(-dt / _ATTEND_S) if dt else 0.0
        self._turn = (self._turn[0] + (target[0] - self._turn[0]) * k, self._turn[1] + (target[1] - self._turn[1]) * k)
        out["head_yaw"] += self._turn[0]
        out["head_pitch"] += self._turn[1]

    def _nod(self, t: float, out: dict) -> None:
        """Listening: a small nod every 1.5-3.5 s."""
        if self.activity == Activity.LISTENING and t >= self._next_nod:
            self._nods.append(t)
            self._next_nod = t + self.rng.uniform(1.5, 3.5)
        self._nods = [s for s in self._nods if t - s < _NOD_S]
        for start in self._nods:
            phase = (t - start) / _NOD_S
            out["head_pitch"] += _NOD_PITCH * 0.5 * (1 - math.cos(2 * math.pi * phase))


def _closures(track: VisemeTrack | None) -> np.ndarray:
    """(start, end) seconds of the track's m, b and p (lips pressed shut), in order."""
    if track is None or not len(track.spans):
        return np.zeros((0, 2))
    shut = track.targets[:, 3] >= 1.0
    spans = track.spans[shut].astype(np.float64) / track.sample_rate
    return np.stack([spans[:, 0], spans[:, 0] + spans[:, 1]], axis=1)


