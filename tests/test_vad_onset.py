"""The barge-in detector (runtime.engines.vad_silero.SileroOnset) on recorded human speech and on
noise, counted in samples fed (no clock): how soon a visitor talking over the avatar is heard."""

from __future__ import annotations

import numpy as np
import pytest

from runtime import engines
from runtime.bench.e2e import REFERENCES, _voiced
from runtime.config import Settings
from runtime.core.compat import tomllib
from runtime.core.paths import models_dir
from runtime.speech.audio import SAMPLE_RATE, read_audio
from runtime.store.models import ModelStore

STORE = ModelStore(models_dir())
LISTEN = Settings().listen
FRAME = SAMPLE_RATE // 50
"""The microphone's 20 ms frames, as the capture actor publishes them."""
LEAD = SAMPLE_RATE + 123
"""Silence before the voice (not a whole number of windows: the onset falls inside one)."""


def _barge_in_lines() -> list[dict]:
    lines = tomllib.loads(REFERENCES.read_text(encoding="utf-8"))["visitor"]
    return [line for line in lines if line.get("barge_in")]


def _heard_after_ms(detector, audio: np.ndarray) -> float | None:
    """Milliseconds of the voice fed (after LEAD) when the detector first says someone speaks."""
    for start in range(0, len(audio), FRAME):
        detector.accept(audio[start:start + FRAME])
        detector.segments()
        if detector.speaking:
            return (start + FRAME - LEAD) * 1000 / SAMPLE_RATE
    return None


def _voice(line: dict) -> np.ndarray:
    audio = read_audio(STORE.resolve(line["asset"]) / line["file"])
    start, stop = (int(t * SAMPLE_RATE) for t in line["span"])
    return np.concatenate([np.zeros(LEAD, np.float32), _voiced(audio[start:stop])])


@pytest.mark.parametrize("line", _barge_in_lines(), ids=lambda line: line["text"][:12])
def test_a_visitor_talking_over_the_avatar_is_heard_a_window_after_the_voice_begins(line):
    make = engines.vad(STORE)
    audio = _voice(line)
    quick = _heard_after_ms(make(quick=True, threshold=LISTEN.barge_in_threshold, min_speech_s=0.032,
                                 min_silence_s=LISTEN.min_silence_s), audio)
    phrases = _heard_after_ms(make(threshold=LISTEN.barge_in_threshold, min_speech_s=LISTEN.barge_in_min_speech_s,
                                   min_silence_s=LISTEN.min_silence_s), audio)
    assert quick is not None and phrases is not None
    assert quick <= 130, f"heard {quick:.0f} ms after the voice began"
    assert quick <= phrases - 60, \
        f"the quick detector ({quick:.0f} ms) is no quicker than the phrase one ({phrases:.0f})"


def _noises() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    n = 15 * SAMPLE_RATE
    t = np.arange(n) / SAMPLE_RATE
    spectrum = np.fft.rfft(rng.normal(size=n)) / np.sqrt(np.arange(1, n // 2 + 2))
    decay = np.exp(-np.arange(800) / 200)
    knocks = np.zeros(n)
    for at in range(0, n - 800, SAMPLE_RATE // 2):
        knocks[at:at + 800] = rng.normal(size=800) * decay
    sounds = {"white": rng.normal(size=n), "pink": np.fft.irfft(spectrum, n), "knocks": knocks,
              "clicks": np.where(rng.random(n) < 0.0005, rng.normal(size=n) * 30, rng.normal(size=n) * 0.01),
              "chords": sum(np.sin(2 * np.pi * f * t) * (np.sin(2 * np.pi * 2 * t + k) > 0)
                            for k, f in enumerate((220, 277, 330, 440)))}
    return {name: (x / np.sqrt(np.mean(x ** 2)) * 10 ** (-20 / 20)).astype(np.float32) for name, x in sounds.items()}


def test_noise_music_and_knocks_are_no_visitor():
    make = engines.vad(STORE)
    for name, audio in _noises().items():
        detector = make(quick=True, threshold=LISTEN.barge_in_threshold, min_speech_s=0.032,
                        min_silence_s=LISTEN.min_silence_s)
        onsets, was = 0, False
        for start in range(0, len(audio), FRAME):
            detector.accept(audio[start:start + FRAME])
            onsets += detector.speaking and not was
            was = detector.speaking
        assert onsets == 0, f"{name} at -20 dBFS was taken for speech {onsets} time(s)"
