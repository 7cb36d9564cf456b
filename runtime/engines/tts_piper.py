"""Piper TTS (ONNX voices): speech per sentence with sample-exact phoneme alignments."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from runtime.core.errors import SpeakFault
from runtime.core.section import Backend
from runtime.engines.tts import Speech, check_speakable
from runtime.speech.visemes import from_alignments, from_audio
from runtime.store.models import ModelStore


class PiperSpeak(Backend):
    """[speak] type = "piper": a piper voice (.onnx + .onnx.json)."""

    type: Literal["piper"] = "piper"
    voice: str = Field("tts-piper-joe",
        description="Model id from models/manifest.toml or the path of a piper .onnx voice "
                    "(its .onnx.json beside it).")
    speaker_id: int = Field(-1, ge=-1, le=9999,
        description="Speaker of a multi-speaker voice; -1 = the voice's default.")
    length_scale: float = Field(0.0, ge=0, le=3,
        description="Speaking slowness: >1 slower, <1 faster; 0 = the voice's default.")
    noise_scale: float = Field(0.0, ge=0, le=2, description="Variation in the voice; 0 = the voice's default.")
    noise_w_scale: float = Field(0.0, ge=0, le=2, description="Variation in timing; 0 = the voice's default.")
    volume: float = Field(1.0, gt=0, le=4, description="Loudness multiplier.")
    threads: int = Field(2, ge=1, le=64, description="CPU threads for synthesis.")


def create(cfg: PiperSpeak, store: ModelStore) -> PiperEngine:
    """The engine for a [speak] type = "piper" section."""
    return PiperEngine(store.locate(cfg.voice, "*.onnx"), name=cfg.voice,
                       speaker_id=None if cfg.speaker_id < 0 else cfg.speaker_id,
                       length_scale=cfg.length_scale or None, noise_scale=cfg.noise_scale or None,
                       noise_w_scale=cfg.noise_w_scale or None, volume=cfg.volume, threads=cfg.threads)


class PiperEngine:
    """One piper voice (`.onnx` + `.onnx.json`)."""

    def __init__(self, model: Path, config: Path | None = None, *, name: str = "", speaker_id: int | None = None,
                 length_scale: float | None = None, noise_scale: float | None = None,
                 noise_w_scale: float | None = None, volume: float = 1.0, threads: int = 2) -> None:
        from piper import SynthesisConfig

        config = config or Path(f"{model}.json")
        for path in (model, config):
            if not Path(path).is_file():
                raise SpeakFault("tts-voice-missing", f"no piper voice file {path}",
                                   "run `edge-talker models fetch`, or fix [speak.en] voice")
        try:
            voice_config = json.loads(Path(config).read_text(encoding="utf-8"))
            self.piper = _load(Path(model), voice_config, threads)
        except Exception as err:
            raise SpeakFault("tts-voice-invalid", f"piper cannot load {Path(model).name}: "
                               f"{type(err).__name__}: {err}",
                               "the voice file is damaged or not a piper voice; `edge-talker models verify` "
                               "checks the store's copy") from err
        self.sample_rate = int(self.piper.config.sample_rate)
        self.voice = name or str(model)
        """The voice as configured (a manifest id or a path): a piper engine has this one voice."""
        espeak = voice_config.get("espeak", {}).get("voice", "en")
        self.languages = (espeak.split("-")[0].split("_")[0].lower(),)
        self.syn_config = SynthesisConfig(speaker_id=speaker_id, length_scale=length_scale,
                                          noise_scale=noise_scale, noise_w_scale=noise_w_scale, volume=volume)

    def has_voice(self, name: str) -> bool:
        """A piper engine speaks with its one voice only (another voice is another engine)."""
        return name in ("", self.voice)

    def synthesize(self, text: str, voice: str = "") -> Iterator[Speech]:
        """Speech per sentence; refuses empty text, text with nothing to say, and a language it lacks."""
        if not self.has_voice(voice):
            raise SpeakFault("tts-voice-unknown", f"this piper engine speaks with {self.voice}, not {voice!r}",
                             "load the other voice as its own engine (see runtime.engines.voices)")
        check_speakable(text, self.languages)
        for chunk in self.piper.synthesize(text, syn_config=self.syn_config, include_alignments=True):
            audio = np.asarray(chunk.audio_float_array, dtype=np.float32)
            alignments = chunk.phoneme_alignments
            track = (from_alignments([(a.phoneme, a.num_samples) for a in alignments], self.sample_rate)
                     if alignments else from_audio(audio, self.sample_rate))
            yield Speech(audio, self.sample_rate, track, text)


def _load(model: Path, voice_config: dict, threads: int):
    """The voice as piper's own loader makes it (phoneme alignments patched in, in memory), but with
    an onnxruntime session whose threads sleep while they wait: piper's default session spins,
    which beside other work made a short sentence take 618 ms instead of 369 ms (median of 6,
    2 threads, load 7)."""
    import onnx
    import onnxruntime as ort
    from piper import PiperVoice
    from piper.config import PiperConfig
    from piper.patch_voice_with_alignment import add_alignment_output

    graph = onnx.load(str(model))
    try:
        add_alignment_output(graph)  # where each phoneme is in the audio: the lips need it
    except ValueError:
        pass  # the voice file has the alignment output already
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(graph.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return PiperVoice(session=_Releasing(session), config=PiperConfig.from_dict(voice_config))


SHORT_IDS = 120
"""Phoneme ids of a sentence of about ten words: the memory a longer one took is given back after it."""


class _Releasing:
    """Piper's session, giving the memory of a long sentence back to the system once it is said.

    onnxruntime keeps what a call needed in its arena and grows the arena in powers of two: three
    60-word sentences left ~576 MB behind for good, so a kiosk's RSS would rise with the longest
    sentence it had said (tests/test_speak.py measures it). Short sentences, the answer's first
    words among them, keep their memory between calls (no page faults on the critical path); after
    a longer one the arena is shrunk."""

    def __init__(self, session) -> None:
        import onnxruntime as ort

        self._session = session
        self._release = ort.RunOptions()
        self._release.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    def run(self, output_names, feed: dict, run_options=None):
        """As InferenceSession.run; after a long sentence the arena lets go of its memory."""
        long = feed["input"].shape[-1] > SHORT_IDS
        return self._session.run(output_names, feed, self._release if long else run_options)

    def __getattr__(self, name: str):
        return getattr(self._session, name)
