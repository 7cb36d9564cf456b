"""Silero VAD through sherpa-onnx's VoiceActivityDetector: speech state and finished segments."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.speech.audio import SAMPLE_RATE

VAD_MODEL = "vad-silero"
"""The manifest model the detector loads (silero_vad.onnx)."""
WINDOW = 512
"""Samples per Silero window at 16 kHz."""


@dataclass(frozen=True, slots=True)
class Segment:
    """A finished stretch of speech on the detector's own sample timeline."""

    start: int
    """First sample (index since the detector was created or reset)."""
    samples: np.ndarray
    """float32 mono at 16 kHz."""

    @property
    def end(self) -> int:
        """One past the last sample."""
        return self.start + len(self.samples)


class SileroVad:
    """One voice activity detector; feed float32 16 kHz audio, read the state and segments."""

    def __init__(self, model: Path, *, threshold: float = 0.5, min_silence_s: float = 0.5,
                 min_speech_s: float = 0.25, max_speech_s: float = 20.0, buffer_s: float = 120.0) -> None:
        import sherpa_onnx

        silero = sherpa_onnx.SileroVadModelConfig(
            model=str(model), threshold=threshold, min_silence_duration=min_silence_s,
            min_speech_duration=min_speech_s, window_size=WINDOW, max_speech_duration=max_speech_s)
        config = sherpa_onnx.VadModelConfig(silero_vad=silero, sample_rate=SAMPLE_RATE, num_threads=1)
        self._vad = sherpa_onnx.VoiceActivityDetector(config, buffer_size_in_seconds=buffer_s)
        self._carry = np.zeros(0, np.float32)

    def accept(self, audio: np.ndarray) -> None:
        """Feed audio (float32, 16 kHz, any length); the detector sees it in whole windows, because
        sherpa-onnx places segments differently when one call carries many windows."""
        audio = np.concatenate([self._carry, audio]) if self._carry.size else audio
        whole = len(audio) - len(audio) % WINDOW
        for start in range(0, whole, WINDOW):
            self._vad.accept_waveform(audio[start:start + WINDOW])
        self._carry = np.array(audio[whole:], dtype=np.float32)

    @property
    def speaking(self) -> bool:
        """True from the onset (after the minimum speech time) until the endpoint."""
        return bool(self._vad.is_speech_detected())

    def segments(self) -> list[Segment]:
        """Segments finished since the last call, oldest first."""
        out = []
        while not self._vad.empty():
            front = self._vad.front
            out.append(Segment(int(front.start), np.asarray(front.samples, dtype=np.float32)))
            self._vad.pop()
        return out

    def flush(self) -> list[Segment]:
        """End of input: close a segment still open and return what finished."""
        self._vad.flush()
        return self.segments()
