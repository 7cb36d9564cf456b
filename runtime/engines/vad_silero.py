"""Silero VAD: phrases through sherpa-onnx's VoiceActivityDetector (speech state and finished
segments), and the quick onset a barge-in needs from Silero's own probabilities (SileroOnset).

Silero scores each 32 ms window; a spoken onset scores 0.85-0.97 in the window that holds its
first 56 ms (tests/test_vad_onset.py). sherpa-onnx's detector reports it 100-160 ms later (it
counts its minimum speech from the first window over the threshold and starts on the next call
after that), which is most of what the avatar took to fall silent when talked over.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.speech.audio import SAMPLE_RATE

VAD_MODEL = "vad-silero"
"""The manifest model the detector loads (silero_vad.onnx)."""
WINDOW = 512
"""Samples per Silero window at 16 kHz."""
CONTEXT = 64
"""Samples of the window before that Silero v5 reads with each window (its own wrapper does so)."""


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


class SileroOnset:
    """When speech starts, a window after Silero hears it: `speaking` once `min_speech_s` of
    consecutive windows score at least `threshold`, until `min_silence_s` of windows score under
    `threshold - 0.15` (Silero's own hysteresis). No segments: it only says whether someone talks."""

    def __init__(self, model: Path, *, threshold: float = 0.5, min_silence_s: float = 0.5,
                 min_speech_s: float = 0.032, max_speech_s: float = 20.0) -> None:
        import onnxruntime as ort

        del max_speech_s  # an onset has no length
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.threshold = threshold
        self._need = max(1, round(min_speech_s * SAMPLE_RATE / WINDOW))
        """Consecutive windows over the threshold that make an onset."""
        self._release = max(1, round(min_silence_s * SAMPLE_RATE / WINDOW))
        self._state = np.zeros((2, 1, 128), np.float32)
        self._rate = np.array(SAMPLE_RATE, np.int64)
        self._audio = np.zeros(CONTEXT, np.float32)
        """The last window's tail, then audio not yet scored."""
        self._over = 0
        self._under = 0
        self.speaking = False
        self.probability = 0.0
        """The last window's score."""

    def accept(self, audio: np.ndarray) -> None:
        """Feed float32 16 kHz audio of any length; each whole window is scored."""
        self._audio = np.concatenate([self._audio, np.asarray(audio, np.float32)])
        while len(self._audio) >= CONTEXT + WINDOW:
            window = self._audio[:CONTEXT + WINDOW]
            out, self._state = self._session.run(None, {"input": window[None], "state": self._state, "sr": self._rate})
            self._audio = self._audio[WINDOW:]
            self._score(float(out[0, 0]))

    def _score(self, probability: float) -> None:
        self.probability = probability
        self._over = self._over + 1 if probability >= self.threshold else 0
        self._under = 0 if probability >= self.threshold - 0.15 else self._under + 1
        if not self.speaking and self._over >= self._need:
            self.speaking = True
        elif self.speaking and self._under >= self._release:
            self.speaking = False

    def segments(self) -> list[Segment]:
        """None: phrases are the other detector's."""
        return []

    def flush(self) -> list[Segment]:
        """End of input: nothing to close."""
        self.speaking = False
        return []
