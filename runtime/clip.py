"""One photo + one voice -> a talking MP4, offline, on a virtual clock as fast as the CPU allows.

The soundtrack is the clock: frame i shows what the animator says is heard at i / fps. Text is
spoken sentence by sentence, as in a conversation, and each sentence's emotion shows from its
emotional words on (runtime.face.expression).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.config import Settings
from runtime.core.errors import RenderFault
from runtime.core.rates import VOICE_RATE
from runtime.dialogue.chunker import chunk_text
from runtime.dialogue.emotion import tag
from runtime.face import avatars
from runtime.face.animator import Animator
from runtime.face.expression import Mood, mood_of
from runtime.hardware.media import Mp4Writer
from runtime.speech.visemes import VisemeTrack, concat, from_audio

LEAD_S, TAIL_S = 0.3, 0.5
"""Silence before and after the speech, so the clip starts and ends at rest."""
MIN_FPS, MAX_FPS = 5, 60
"""Frame rates a clip may have (as [record] fps): fewer cannot show speech, more only costs time."""


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


def speech_for(settings: Settings, text: str | None,
               audio_path: str | None) -> tuple[np.ndarray, int, VisemeTrack, list[Mood]]:
    """Audio (float32), its rate, its viseme track and the moods of its sentences (seconds from
    the audio's start): synthesized from text sentence by sentence, or from a WAV's sound (no mood)."""
    if text is not None:
        from runtime import factories

        engine = factories.tts_factory(settings)()
        audio, tracks, moods, at = [], [], [], 0.0
        for sentence in list(chunk_text([text])) or [text]:
            pieces = list(engine.synthesize(sentence))
            track = concat([p.track for p in pieces])
            mood = tag(sentence)
            found = mood_of(sentence, str(mood.emotion), mood.intensity, track, at)
            moods += [found] if found else []
            audio += [p.audio for p in pieces]
            tracks.append(track)
            at += sum(len(p.audio) for p in pieces) / engine.sample_rate
        return np.concatenate(audio), engine.sample_rate, concat(tracks), moods
    from runtime.speech.audio import read_audio

    rate = VOICE_RATE
    audio = read_audio(audio_path, rate)
    return audio, rate, from_audio(audio, rate), []


def check_output(out: str | Path, fps: int, *, force: bool = False) -> Path:
    """Refuse, before any work, a clip that could not be written or would silently replace a file."""
    out = Path(out)
    if not MIN_FPS <= fps <= MAX_FPS:
        raise RenderFault("render-bad-fps", f"--fps {fps} is not between {MIN_FPS} and {MAX_FPS}",
                          "25 is the usual frame rate for talking clips")
    if out.is_dir():
        raise RenderFault("render-out-is-directory", f"{out} is a directory", "name the MP4 file to write")
    if out.suffix.lower() != ".mp4":
        raise RenderFault("render-out-not-mp4", f"{out.name} does not end in .mp4; a clip is an MP4 file",
                          "name the output like clip.mp4 (`speak --out` writes a WAV)")
    if not out.parent.is_dir():
        raise RenderFault("render-out-no-directory", f"the directory {out.parent} does not exist",
                          "create it first, or write the clip elsewhere")
    if out.is_file() and not force:
        raise RenderFault("render-out-exists", f"{out} already exists",
                          "pass --force to replace it, or choose another name")
    return out


def render_clip(settings: Settings, out: str | Path, *, text: str | None = None, audio_path: str | None = None,
                avatar: str | None = None, fps: int = 25, force: bool = False, seed: int | None = None) -> Clip:
    """Write the talking clip; returns its duration, frame count and render time.

    An existing file is replaced only with force=True; `seed` fixes the blinks and glances (None:
    different in every run, as a person's)."""
    out = check_output(out, fps, force=force)
    avatar_bundle = avatars.load_avatar(settings, avatar)  # refuse an unknown avatar before synthesis
    audio, rate, track, moods = speech_for(settings, text, audio_path)
    started = time.perf_counter()
    face = avatars.renderer(avatar_bundle)
    lead, tail = np.zeros(int(LEAD_S * rate), np.float32), np.zeros(int(TAIL_S * rate), np.float32)
    soundtrack = np.concatenate([lead, audio, tail])
    animator = Animator(seed=seed)
    animator.speak(track, LEAD_S)
    for mood in moods:
        animator.feel(mood.emotion, mood.amount, LEAD_S + mood.on_s, LEAD_S + mood.off_s)
    size = avatar_bundle.portrait.shape[0]
    writer = Mp4Writer(out, width=size, height=size, fps=fps, sample_rate=rate)
    try:
        writer.write_audio(soundtrack)
        frames = math.ceil(len(soundtrack) / rate * fps)
        for i in range(frames):
            writer.write_video(face.render(animator.params(i / fps)), i)
    finally:
        writer.close()
    return Clip(out, len(soundtrack) / rate, frames, fps, time.perf_counter() - started,
                avatars.mouth_region(avatar_bundle.landmarks))
