"""When a sentence's emotion shows on the face: from the words that carry it, ramped in and out.

The speak actor gives every piece of speech its text, emotion and intensity; the viseme track says
when each sound is heard. The emotion starts where its words are heard (runtime.dialogue.emotion
.cue_start, placed by the share of the sentence's sounds spoken before them) and fades in and out
over RAMP_S, fading out just after the sentence's last sound: a greeting is a pleasant face while it is said,
not a grin held over the whole answer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from runtime.dialogue.emotion import cue_start
from runtime.face.ease import smoothstep
from runtime.speech.visemes import Viseme, VisemeTrack

RAMP_S = 0.3
"""How long an emotion takes to appear and to fade (seconds)."""
HOLD_S = 0.2
"""How long it stays after the sentence's last sound (seconds) before it fades: an emotional last
word is seen, and the face relaxes in the pause before the next sentence."""


@dataclass(frozen=True, slots=True)
class Mood:
    """An emotion at `amount` (0..1), shown from on_s to off_s (clock seconds), ramped over RAMP_S."""

    emotion: str
    amount: float
    on_s: float
    off_s: float = math.inf

    def weight(self, t: float) -> float:
        """0..1: how much of the emotion shows at clock time t."""
        rise = smoothstep((t - self.on_s) / RAMP_S)
        fall = smoothstep((self.off_s - t) / RAMP_S)
        return rise * fall




def spoken_at(track: VisemeTrack, fraction: float) -> float:
    """Seconds into the track when `fraction` (0..1) of its sounds (pauses not counted) have been heard."""
    if not len(track.spans):
        return 0.0
    voiced = np.array([v != str(Viseme.SIL) for v in track.visemes])
    lengths = track.spans[:, 1] * voiced
    total = float(lengths.sum())
    if total <= 0:
        return 0.0
    ends = np.cumsum(lengths)
    goal = min(max(fraction, 0.0), 1.0) * total
    i = int(np.searchsorted(ends, goal, side="left"))
    i = min(i, len(ends) - 1)
    while not voiced[i] and i + 1 < len(voiced):  # (a pause: the next sound)
        i += 1
    before = float(ends[i] - lengths[i])
    inside = (goal - before) / max(float(lengths[i]), 1.0) if voiced[i] else 0.0
    return (track.spans[i, 0] + min(max(inside, 0.0), 1.0) * track.spans[i, 1]) / track.sample_rate


def last_sound(track: VisemeTrack) -> float:
    """Seconds into the track when its last sound ends."""
    voiced = [i for i, v in enumerate(track.visemes) if v != str(Viseme.SIL)]
    if not voiced:
        return track.num_samples / track.sample_rate
    start, length = track.spans[voiced[-1]]
    return float(start + length) / track.sample_rate


def _letters(text: str) -> int:
    return len(re.sub(r"[\W_]", "", text))


def mood_of(text: str, emotion: str, intensity: float, track: VisemeTrack, start_s: float) -> Mood | None:
    """The mood of a piece of speech heard from clock time start_s (None: a neutral sentence)."""
    if emotion == "neutral" or intensity <= 0 or not text.strip():
        return None
    cue = cue_start(text, emotion)
    fraction = _letters(text[:cue]) / max(_letters(text), 1)
    on = start_s + spoken_at(track, fraction)
    off = start_s + last_sound(track) + HOLD_S + RAMP_S
    return Mood(emotion, float(intensity), on, max(off, on + 2 * RAMP_S))
