"""Audio files and sample formats: read any supported file as 16 kHz mono float32, convert frames."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from runtime.core.errors import CaptureFault
from runtime.core.limits import MAX_AUDIO_S
from runtime.core.rates import SAMPLE_RATE

SILENCE_DB = -120.0
"""The level reported for digital silence (dBFS)."""

NORMAL_PEAK = 10 ** (-10 / 20)
"""Peak that clipped or over-full-scale audio is scaled to (-10 dBFS)."""
MAX_NONFINITE = 0.1
"""Fraction of NaN/inf samples past which a file is refused as damaged rather than repaired."""
MAX_CLIPPED = 0.001
"""Fraction of samples at full scale past which audio counts as clipped."""

_HINT = "use a WAV, FLAC or OGG file with audio in it"
_RAIL = 0.999
_LOGGER = logging.getLogger(__name__)


def read_audio(path: str | Path, rate: int = SAMPLE_RATE, *, report: bool = True) -> np.ndarray:
    """The file's audio mixed to mono and resampled to `rate`, as float32 in [-1, 1], sanitised.

    report=False: refuse what cannot be used, but leave the warnings about repairs to the real read
    (for a check before models load)."""
    mono, source_rate = decode(path)
    return to_rate(sanitise(mono, Path(path).name, report=report), source_rate, rate)


def decode(path: str | Path) -> tuple[np.ndarray, int]:
    """The file's samples mixed to mono, as stored (float32, not sanitised), and its rate (hertz)."""
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise CaptureFault("audio-file-missing", f"{path} does not exist or is not a file", _HINT)
    try:
        with soundfile.SoundFile(str(path)) as sound:
            source_rate, frames = int(sound.samplerate), int(sound.frames)
            if frames > MAX_AUDIO_S * source_rate:  # from the header: nothing is decoded yet
                raise CaptureFault("audio-file-too-long", f"{path.name} lasts {frames / source_rate / 60:.1f} min, "
                                   f"more than {MAX_AUDIO_S / 60:g} min", "cut the part that matters (e.g. with sox "
                                   "or ffmpeg) and pass that")
            mono = np.zeros(max(frames, 0), np.float32)
            filled = 0
            for block in sound.blocks(blocksize=source_rate * 10, dtype="float32", always_2d=True):
                part = block.mean(axis=1)[: len(mono) - filled]  # channels mixed block by block: bounded memory
                mono[filled:filled + len(part)] = part
                filled += len(part)
    except (soundfile.LibsndfileError, RuntimeError, ValueError, TypeError) as err:
        raise CaptureFault("audio-file-unsupported", f"cannot decode {path.name}: {err}", _HINT) from err
    if filled == 0:
        raise CaptureFault("audio-file-empty", f"{path.name} contains no samples", _HINT)
    return mono[:filled], source_rate


def clipped(mono: np.ndarray) -> float:
    """Fraction of the samples at (or over) full scale."""
    return float(np.mean(np.abs(mono) >= _RAIL)) if mono.size else 0.0


def sanitise(mono: np.ndarray, name: str = "the audio", *, report: bool = True) -> np.ndarray:
    """Samples the pipeline can hear: NaN/inf become silence (refused when they are a good part of
    the file), and audio over or at full scale is brought down to NORMAL_PEAK, each with a warning.

    Why the level matters: Silero's speech probability falls near and above full scale. On a
    sample sentence driven 30 dB into clipping, the windows of its first two words score 0.23-0.48
    against the 0.5 threshold, so they were cut off; the same clipped samples at -10 dBFS score
    0.71-0.86. A float file at +60 dB made Whisper hallucinate a repeated word instead."""
    warn = _LOGGER.warning if report else _LOGGER.debug
    bad = ~np.isfinite(mono)
    if bad.any():
        if bad.mean() > MAX_NONFINITE:
            raise CaptureFault("audio-file-invalid", f"{bad.mean():.0%} of the samples of {name} are not numbers "
                               "(NaN or infinite): the file is damaged", _HINT)
        warn("audio-nonfinite: %d samples of %s were NaN or infinite; they are heard as silence",
             int(bad.sum()), name)
        mono = np.where(bad, np.float32(0), mono)
    peak = float(np.abs(mono).max()) if mono.size else 0.0
    if peak > 1.0:
        warn("audio-over-full-scale: %s peaks %.0f dB over full scale; scaled down", name, 20 * np.log10(peak))
    elif clipped(mono) > MAX_CLIPPED:
        warn("audio-clipped: %.1f%% of the samples of %s are clipped; scaled down (words may be misheard: "
             "record with less gain)", 100 * clipped(mono), name)
    else:
        return mono
    return (mono * (NORMAL_PEAK / peak)).astype(np.float32)


def to_rate(mono: np.ndarray, source_rate: int, rate: int = SAMPLE_RATE) -> np.ndarray:
    """Resample mono float32 audio with soxr (high quality); a no-op when the rates match."""
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if source_rate == rate:
        return mono
    import soxr

    return soxr.resample(mono, source_rate, rate, quality="HQ").astype(np.float32, copy=False)


def to_int16(audio: np.ndarray) -> np.ndarray:
    """float32 [-1, 1] -> int16 PCM, clipped."""
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype(np.int16)


def to_float(pcm: np.ndarray) -> np.ndarray:
    """int16 PCM -> float32 [-1, 1]."""
    return pcm.astype(np.float32) / 32768.0


def rms(audio: np.ndarray) -> float:
    """Root mean square of float32 audio (0 for no samples)."""
    return float(np.sqrt(np.mean(np.square(audio, dtype=np.float64)))) if audio.size else 0.0


def frame_rms(audio: np.ndarray, hop: int) -> np.ndarray:
    """RMS of each whole window of `hop` samples (a partial last window is left out)."""
    frames = audio[: len(audio) // hop * hop].reshape(-1, hop)
    return np.sqrt(np.mean(np.square(frames, dtype=np.float64), axis=1))


def to_db(level: float | np.ndarray) -> float | np.ndarray:
    """An RMS level in dB relative to full scale, never below SILENCE_DB."""
    return np.maximum(SILENCE_DB, 20.0 * np.log10(np.asarray(level) + 1e-12))


def dbfs(audio: np.ndarray) -> float:
    """RMS level of float32 audio in dB relative to full scale (SILENCE_DB for silence)."""
    return float(to_db(rms(audio))) if audio.size else SILENCE_DB


VOICED_DB = -60.0
"""A 10 ms window of a synthesized voice at or above this level is voice, not its silent edge."""


def voiced_span(audio: np.ndarray, sample_rate: int, floor_db: float = VOICED_DB) -> tuple[int, int]:
    """First and last sample (exclusive) of the 10 ms windows at or above floor_db; (0, 0) when none is."""
    hop = max(1, sample_rate // 100)
    levels = to_db(frame_rms(np.concatenate([audio, np.zeros(-len(audio) % hop, audio.dtype)]), hop))
    loud = np.flatnonzero(levels >= floor_db)
    if not len(loud):
        return 0, 0
    return int(loud[0]) * hop, min(len(audio), (int(loud[-1]) + 1) * hop)
