"""Audio files and sample formats: read any supported file as 16 kHz mono float32, convert frames."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime.core.errors import CaptureFault

SAMPLE_RATE = 16000
"""The pipeline's internal rate for heard audio (hertz)."""
VOICE_RATE = 22050
"""Rate of the bundled piper voice (hertz): only a default; every piece of speech carries its own rate."""
SILENCE_DB = -120.0
"""The level reported for digital silence (dBFS)."""

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
