"""The sherpa-onnx engine loads and decodes a tiny generated zipformer-CTC model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from runtime import factories
from runtime.config import Settings, SherpaAsr
from runtime.core.errors import RuntimeFault
from tests.data.make_ctc_model import write


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write(tmp_path_factory.mktemp("tiny-ctc"))


def bursts(count: int) -> np.ndarray:
    t = np.arange(8000) / 16000
    burst = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    gap = np.zeros(8000, np.float32)
    return np.concatenate([gap] + [x for _ in range(count) for x in (burst, gap)])


def test_configured_sherpa_engine_decodes_real_audio_features(tiny):
    model, tokens = tiny
    settings = Settings(asr=SherpaAsr(type="sherpa", kind="zipformer_ctc", files={"model": str(model)},
                                      tokens=str(tokens)))
    engine = factories.asr_factory(settings)()
    assert engine.transcribe(bursts(0)).text == ""
    assert engine.transcribe(bursts(1)).text == "HELLO"
    assert engine.transcribe(bursts(2)).text == "HELLO HELLO"
    assert engine.partial(bursts(3)).text == "HELLO HELLO HELLO"


def test_missing_files_and_roles_are_clear_faults(tiny, tmp_path):
    model, tokens = tiny
    from runtime.engines.asr_sherpa import SherpaEngine

    with pytest.raises(RuntimeFault) as info:
        SherpaEngine("zipformer_ctc", {"model": tmp_path / "gone.onnx"}, tokens)
    assert info.value.code == "asr-model-missing"
    with pytest.raises(RuntimeFault) as info:
        SherpaEngine("transducer", {"encoder": Path(model)}, tokens)
    assert info.value.code == "asr-config-invalid" and "decoder, joiner" in info.value.message
