"""Smart Turn v3.2: has the visitor finished? Audio of the utterance in, the probability that the
turn is complete out.

The model (manifest id `turn-smart-v3.2`, taken from a registry wheel; never a run-time
dependency) is a Whisper-tiny encoder with a classifier. Its input is Whisper's log-mel
spectrogram (80 bins, 25 ms windows every 10 ms) of the last 8 s of 16 kHz audio, the waveform
scaled to zero mean and unit variance first; shorter audio is padded with silence at the FRONT,
so the end of the utterance is always at the end of the window. The spectrogram is the one
faster-whisper computes for its own decoder (tests/test_turn.py checks it against the formula).
One onnxruntime session, one thread, created once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.core.errors import ModelFault
from runtime.speech.audio import SAMPLE_RATE

_LOGGER = logging.getLogger(__name__)

TURN_MODEL = "turn-smart-v3.2"
"""The manifest id of the model."""
TURN_FILE = "smart-turn-v3.2-cpu.onnx"
WINDOW_S = 8
"""The model sees this much audio: the last 8 s of the utterance."""
_WINDOW = WINDOW_S * SAMPLE_RATE
_NORM_EPS = 1e-7


def log_mel(audio: np.ndarray) -> np.ndarray:
    """The model's input: Whisper log-mel features [80, 800] of the last 8 s of `audio` (float32,
    16 kHz mono), silence padded in front of shorter audio."""
    from faster_whisper.feature_extractor import FeatureExtractor

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 1:
        raise ValueError(f"expected mono audio (one dimension), got shape {audio.shape}")
    window = np.zeros(_WINDOW, np.float32)
    tail = audio[-_WINDOW:]
    window[_WINDOW - len(tail):] = tail
    window = (window - window.mean()) / np.sqrt(window.var() + _NORM_EPS)
    return _extractor(FeatureExtractor)(window, padding=0).astype(np.float32)


_EXTRACTORS: dict = {}


def _extractor(cls):
    """One feature extractor (its mel filter bank is computed once)."""
    if cls not in _EXTRACTORS:
        _EXTRACTORS[cls] = cls(feature_size=80, sampling_rate=SAMPLE_RATE, hop_length=160, chunk_length=WINDOW_S,
                               n_fft=400)
    return _EXTRACTORS[cls]


@dataclass(frozen=True, slots=True)
class TurnVerdict:
    """What the model said about one stretch of audio."""

    probability: float
    """Probability that the visitor has finished (0..1)."""
    seconds: float
    """How long the inference took (features included)."""


class TurnModel:
    """The end-of-turn classifier: `probability(audio)`; thread-safe for one caller at a time."""

    def __init__(self, path: Path | str, *, threads: int = 1) -> None:
        import onnxruntime as ort

        path = Path(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises several types for a bad file
            raise ModelFault("model-corrupt", f"the turn model {path} cannot be loaded: {err}".strip()[:400],
                             f"run `edge-talker models fetch {TURN_MODEL}`, or set [listen] turn_model = false "
                             "to decide the endpoint from the words alone") from err
        inputs = self._session.get_inputs()
        if [i.name for i in inputs] != ["input_features"]:
            raise ModelFault("model-corrupt", f"{path} is not a Smart Turn model (inputs {[i.name for i in inputs]})",
                             f"run `edge-talker models fetch {TURN_MODEL}`")

    def verdict(self, audio: np.ndarray) -> TurnVerdict:
        """How likely the visitor has finished, given the utterance so far (its end is now)."""
        started = time.perf_counter()
        features = log_mel(audio)[np.newaxis]
        out = self._session.run(None, {"input_features": features})[0]
        return TurnVerdict(float(np.asarray(out).reshape(-1)[0]), time.perf_counter() - started)

    def probability(self, audio: np.ndarray) -> float:
        """The probability that the visitor has finished (0..1)."""
        return self.verdict(audio).probability


_warned: set[str] = set()


def turn_model_state(store) -> tuple[str, str]:
    """(code, detail) of the turn model's file in a ModelStore: ("ok", ""), ("model-missing", ...)
    or ("model-corrupt", ...)."""
    status = store.check(store.manifest.get(TURN_MODEL), full=False)[0]
    return status.code, status.detail


def turn_factory(settings, store):
    """A function that loads the turn model ([listen] settings; called in the listen actor's
    thread), or None when it is off or its file is not in the store (the words decide alone; a
    warning, once). A damaged file is refused: model-corrupt, with the fix."""
    if not settings.turn_model:
        return None
    code, detail = turn_model_state(store)
    if code == "model-missing":
        if str(store.root) not in _warned:
            _warned.add(str(store.root))
            _LOGGER.warning("the turn model %s %s: the end of what the visitor says is judged from the words "
                            "alone (run `edge-talker models fetch %s`, or set [listen] turn_model = false)",
                            TURN_MODEL, detail, TURN_MODEL)
        return None
    if code != "ok":
        raise ModelFault(code, f"model {TURN_MODEL}: {TURN_FILE} {detail}",
                         f"run `edge-talker models fetch {TURN_MODEL}`, or set [listen] turn_model = false")
    path = store.path(TURN_MODEL, TURN_FILE)
    return lambda: TurnModel(path)
