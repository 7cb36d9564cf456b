"""sherpa-onnx ASR: streaming (transducer, paraformer, zipformer2 CTC) and offline (SenseVoice,
Whisper ONNX, zipformer CTC, paraformer) recognizers, configured by model file paths.

For production boxes that have such models (none ships through a package registry). A streaming
model is fed the whole utterance in one stream here; the listen actor already decodes while the
visitor speaks, so the interface stays the same as Whisper's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from runtime.core.errors import ListenFault
from runtime.core.section import Backend
from runtime.engines.asr import AsrResult
from runtime.speech.audio import SAMPLE_RATE
from runtime.store.models import ModelStore

# kind -> (streaming, files it needs besides tokens)
KINDS: dict[str, tuple[bool, tuple[str, ...]]] = {
    "transducer": (True, ("encoder", "decoder", "joiner")),
    "paraformer": (True, ("encoder", "decoder")),
    "zipformer2_ctc": (True, ("model",)),
    "offline_transducer": (False, ("encoder", "decoder", "joiner")),
    "offline_paraformer": (False, ("model",)),
    "zipformer_ctc": (False, ("model",)),
    "sense_voice": (False, ("model",)),
    "whisper": (False, ("encoder", "decoder")),
}


class SherpaAsr(Backend):
    """[asr] type = "sherpa": a sherpa-onnx streaming or offline model given by file paths."""

    type: Literal["sherpa"]
    kind: Literal["transducer", "paraformer", "zipformer2_ctc", "offline_transducer", "offline_paraformer",
                  "zipformer_ctc", "sense_voice", "whisper"] = Field(description="Model architecture.")
    files: dict[str, str] = Field(
        description="Model files by role: encoder/decoder/joiner, or model (see README).")
    tokens: str = Field(min_length=1, description="tokens.txt of the model.")
    threads: int = Field(2, ge=1, le=64, description="CPU threads.")
    language: str = Field("", description="Language hint for multilingual models (SenseVoice, Whisper).")


def create(cfg: SherpaAsr, store: ModelStore) -> SherpaEngine:
    """The engine for an [asr] type = "sherpa" section (files are paths, not manifest ids)."""
    return SherpaEngine(cfg.kind, {k: Path(v) for k, v in cfg.files.items()}, Path(cfg.tokens),
                        threads=cfg.threads, language=cfg.language)


class SherpaEngine:
    """One sherpa-onnx recognizer; `files` maps the kind's file roles to paths."""

    def __init__(self, kind: str, files: dict[str, Path], tokens: Path, *, threads: int = 2,
                 language: str = "") -> None:
        if kind not in KINDS:
            raise ListenFault("asr-config-invalid", f"unknown sherpa model kind {kind!r}",
                               f"use one of {', '.join(KINDS)}")
        self.streaming, roles = KINDS[kind]
        missing = [r for r in roles if r not in files]
        if missing:
            raise ListenFault("asr-config-invalid", f"sherpa {kind} needs {', '.join(missing)}",
                               "set the file paths in [asr] files")
        for path in [tokens, *files.values()]:
            if not Path(path).is_file():
                raise ListenFault("asr-model-missing", f"sherpa model file {path} does not exist",
                                   "put the model files there or fix the paths in [asr]")
        self.language = language
        try:
            self._recognizer = _build(kind, {k: str(v) for k, v in files.items()}, str(tokens), threads, language)
        except (RuntimeError, ValueError, TypeError) as err:
            raise ListenFault("asr-model-invalid", f"sherpa-onnx cannot load the {kind} model: {err}",
                               "check that the files match the model kind in [asr]") from err

    def transcribe(self, audio: np.ndarray, language: str = "auto") -> AsrResult:
        """Decode the whole audio."""
        stream = self._recognizer.create_stream()
        stream.accept_waveform(SAMPLE_RATE, audio)
        if self.streaming:
            stream.accept_waveform(SAMPLE_RATE, np.zeros(int(0.3 * SAMPLE_RATE), np.float32))
            stream.input_finished()
            while self._recognizer.is_ready(stream):
                self._recognizer.decode_stream(stream)
            text = self._recognizer.get_result(stream)
        else:
            self._recognizer.decode_stream(stream)
            text = stream.result.text
        lang = getattr(getattr(stream, "result", None), "lang", "") if not self.streaming else ""
        return AsrResult(text=text.strip(), language=(lang or self.language or "").strip("<|>"))

    partial = transcribe


def _build(kind: str, f: dict[str, str], tokens: str, threads: int, language: str):
    import sherpa_onnx

    online, offline = sherpa_onnx.OnlineRecognizer, sherpa_onnx.OfflineRecognizer
    common = {"tokens": tokens, "num_threads": threads}
    if kind == "transducer":
        return online.from_transducer(encoder=f["encoder"], decoder=f["decoder"], joiner=f["joiner"], **common)
    if kind == "paraformer":
        return online.from_paraformer(encoder=f["encoder"], decoder=f["decoder"], **common)
    if kind == "zipformer2_ctc":
        return online.from_zipformer2_ctc(model=f["model"], **common)
    if kind == "offline_transducer":
        return offline.from_transducer(encoder=f["encoder"], decoder=f["decoder"], joiner=f["joiner"], **common)
    if kind == "offline_paraformer":
        return offline.from_paraformer(paraformer=f["model"], **common)
    if kind == "zipformer_ctc":
        return offline.from_zipformer_ctc(model=f["model"], **common)
    if kind == "sense_voice":
        return offline.from_sense_voice(model=f["model"], language=language or "auto", use_itn=True, **common)
    return offline.from_whisper(encoder=f["encoder"], decoder=f["decoder"], language=language, **common)
