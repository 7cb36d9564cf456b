"""One photo + one voice -> a talking MP4, offline, on a virtual clock as fast as the CPU allows.

The soundtrack is the clock: frame i shows what the animator says is heard at i / fps.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.core.config import Settings
from runtime.devices.media import Mp4Writer
from runtime.dialogue.emotion import tag
from runtime.face import avatars
from runtime.face.animator import Animator
from runtime.speech.audio import VOICE_RATE
from runtime.speech.visemes import VisemeTrack, concat, from_audio

LEAD_S, TAIL_S = 0.3, 0.5
"""Silence before and after the speech, so the clip starts and ends at rest."""


@dataclass(frozen=True, slots=True)
class Clip:
    """What was written."""

    path: Path
    duration_s: float
    frames: int
    fps: int
    render_s: float
    """Wall time spent (seconds); duration_s / render_s is the speed in x real time."""
    mouth_region: tuple[slice, slice]


def speech_for(settings: Settings, text: str | None, audio_path: str | None) -> tuple[np.ndarray, int, VisemeTrack]:
    """Audio (float32), its rate and its viseme track: synthesized from text, or from a WAV's sound."""
    if text is not None:
        from runtime import product

        engine = product.tts_factory(settings)()
        pieces = list(engine.synthesize(text))
        return np.concatenate([p.audio for p in pieces]), engine.sample_rate, concat([p.track for p in pieces])
    from runtime.speech.audio import read_audio

    rate = VOICE_RATE
    audio = read_audio(audio_path, rate)
    return audio, rate, from_audio(audio, rate)


def render_clip(settings: Settings, out: str | Path, *, text: str | None = None, audio_path: str | None = None,
                avatar: str | None = None, fps: int = 25) -> Clip:
    """Write the talking clip; returns its duration, frame count and render time."""
    avatar_bundle = avatars.load_avatar(settings, avatar)  # refuse an unknown avatar before synthesis
    audio, rate, track = speech_for(settings, text, audio_path)
    started = time.perf_counter()
    face = avatars.renderer(avatar_bundle)
    lead, tail = np.zeros(int(LEAD_S * rate), np.float32), np.zeros(int(TAIL_S * rate), np.float32)
    soundtrack = np.concatenate([lead, audio, tail])
    animator = Animator(seed=0)
    animator.speak(track, LEAD_S)
    if text:
        mood = tag(text)
        animator.feel(str(mood.emotion), mood.intensity)
    size = avatar_bundle.portrait.shape[0]
    writer = Mp4Writer(out, width=size, height=size, fps=fps, sample_rate=rate)
    try:
        writer.write_audio(soundtrack)
        frames = math.ceil(len(soundtrack) / rate * fps)
        for i in range(frames):
            writer.write_video(face.render(animator.params(i / fps)), i)
    finally:
        writer.close()
    return Clip(Path(out), len(soundtrack) / rate, frames, fps, time.perf_counter() - started,
                avatars.mouth_region(avatar_bundle.landmarks))
