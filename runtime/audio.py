"""Audio files and sample formats: read any supported file as 16 kHz mono float32, convert frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.errors import CaptureFault

SAMPLE_RATE = 16000
"""The pipeline's internal rate (hertz)."""

_HINT = "use a WAV, FLAC or OGG file with audio in it"


def read_audio(path: str | Path, rate: int = SAMPLE_RATE) -> np.ndarray:
    """The file's audio mixed to mono and resampled to `rate`, as float32 in [-1, 1]."""
    import soundfile

    path = Path(path)
    if not path.is_file():
        raise CaptureFault("audio-file-missing", f"{path} does not exist or is not a file", _HINT)
    try:
        data, source_rate = soundfile.read(str(path), dtype="float32", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, ValueError, TypeError) as err:
        raise CaptureFault("audio-file-unsupported", f"cannot decode {path.name}: {err}", _HINT) from err
    if data.shape[0] == 0:
        raise CaptureFault("audio-file-empty", f"{path.name} contains no samples", _HINT)
    return to_rate(data.mean(axis=1), source_rate, rate)


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


def dbfs(audio: np.ndarray) -> float:
    """RMS level of float32 audio in dB relative to full scale (-120 for silence)."""
    if audio.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return max(-120.0, 20.0 * np.log10(rms + 1e-12))
