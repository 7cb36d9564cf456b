"""[asr] type = "acme-asr": a test engine from another package; its config class and its
`create` live together in this one file."""

from typing import ClassVar, Literal

import numpy as np
from pydantic import Field

from runtime.core.section import Backend
from runtime.engines.asr import AsrResult


class AcmeAsr(Backend):
    """[asr] type = "acme-asr": hears every utterance as `words`."""

    STAGE: ClassVar[str] = "asr"
    type: Literal["acme-asr"]
    words: str = Field(min_length=1, max_length=200, description="What every utterance is heard as.")


class AcmeEngine:
    def __init__(self, words: str) -> None:
        self.words = words

    def transcribe(self, audio: np.ndarray, language: str = "auto") -> AsrResult:
        return AsrResult(self.words, "en")

    partial = transcribe


def create(cfg: AcmeAsr, store) -> AcmeEngine:
    return AcmeEngine(cfg.words)
