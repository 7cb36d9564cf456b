"""Piper TTS (ONNX voices): speech per sentence with sample-exact phoneme alignments."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from runtime.core.config import PiperSpeak
from runtime.core.errors import SpeakFault, Unspeakable
from runtime.engines.tts import Speech
from runtime.speech.language import is_chinese
from runtime.speech.visemes import from_alignments, from_audio
from runtime.store.models import ModelStore


def create(cfg: PiperSpeak, store: ModelStore) -> PiperEngine:
    """The engine for a [speak] type = "piper" section."""
    return PiperEngine(store.locate(cfg.voice, "*.onnx"), speaker_id=None if cfg.speaker_id < 0 else cfg.speaker_id,
                       length_scale=cfg.length_scale or None, noise_scale=cfg.noise_scale or None,
                       noise_w_scale=cfg.noise_w_scale or None, volume=cfg.volume)


class PiperEngine:
    """One piper voice (`.onnx` + `.onnx.json`)."""

    def __init__(self, model: Path, config: Path | None = None, *, speaker_id: int | None = None,
                 length_scale: float | None = None, noise_scale: float | None = None,
                 noise_w_scale: float | None = None, volume: float = 1.0) -> None:
        from piper import PiperVoice, SynthesisConfig

        config = config or Path(f"{model}.json")
        for path in (model, config):
            if not Path(path).is_file():
                raise SpeakFault("tts-voice-missing", f"no piper voice file {path}",
                                   "run `edge-talker models fetch`, or fix [speak] voice")
        try:
            voice_config = json.loads(Path(config).read_text(encoding="utf-8"))
            self.voice = PiperVoice.load(model, config_path=config, include_alignments=True)
        except Exception as err:
            raise SpeakFault("tts-voice-invalid", f"piper cannot load {Path(model).name}: "
                               f"{type(err).__name__}: {err}",
                               "the voice file is damaged or not a piper voice; `edge-talker models verify` "
                               "checks the store's copy") from err
        self.sample_rate = int(self.voice.config.sample_rate)
        espeak = voice_config.get("espeak", {}).get("voice", "en")
        self.languages = (espeak.split("-")[0].split("_")[0].lower(),)
        self.syn_config = SynthesisConfig(speaker_id=speaker_id, length_scale=length_scale,
                                          noise_scale=noise_scale, noise_w_scale=noise_w_scale, volume=volume)

    def synthesize(self, text: str) -> Iterator[Speech]:
        """Speech per sentence; refuses empty text, text with nothing to say, and a language it lacks."""
        check_speakable(text, self.languages)
        for chunk in self.voice.synthesize(text, syn_config=self.syn_config, include_alignments=True):
            audio = np.asarray(chunk.audio_float_array, dtype=np.float32)
            alignments = chunk.phoneme_alignments
            track = (from_alignments([(a.phoneme, a.num_samples) for a in alignments], self.sample_rate)
                     if alignments else from_audio(audio, self.sample_rate))
            yield Speech(audio, self.sample_rate, track, text)


def check_speakable(text: str, languages: tuple[str, ...]) -> None:
    """Raise a TTS fault for text a voice cannot say."""
    if not text or not text.strip():
        raise Unspeakable("tts-empty-text", "nothing to say: the text is empty", "pass words to speak")
    if not any(unicodedata.category(c)[0] in "LN" for c in text):
        raise Unspeakable("tts-unspeakable", f"no letters or digits to say in {text[:40]!r}",
                           "control characters, symbols and emoji alone cannot be spoken")
    if is_chinese(text) and "zh" not in languages:
        raise Unspeakable("tts-no-voice-for-language", "Chinese text but the voice speaks "
                           f"{', '.join(languages)} only",
                           "configure a Chinese voice, or set the persona's language to \"en\"; until then "
                           "Chinese answers are shown as captions only")
