"""What every TTS engine returns, the interface the speak actor relies on, and checks they share.

An engine declares the `languages` it speaks and yields Speech whose track comes from its own
phoneme durations (piper's alignments, Kokoro's predicted durations). Pieces of speech carry their
own sample rate (runtime.engines.voices brings every voice to one).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from runtime.core.errors import Unspeakable
from runtime.core.section import Backend
from runtime.speech.language import is_chinese
from runtime.speech.visemes import VisemeTrack

KOKORO_VOICE = re.compile(r"[a-z]{2}_[a-z]+")
"""How a stock Kokoro voice is named: language and gender letters, _, a name (zf_xiaoxiao)."""


def is_piper_voice(voice: str) -> bool:
    """A voice that names a piper model: a manifest id (tts-...) or a .onnx file."""
    return voice.startswith("tts-") or voice.endswith(".onnx") or "/" in voice


def is_stock_voice(name: str) -> bool:
    """A name shaped like a stock voice: a Kokoro voice's (xx_name) or a piper model id (tts-...)."""
    return bool(KOKORO_VOICE.fullmatch(name)) or name.startswith("tts-")


class NoSpeak(Backend):
    """[speak.<language>] type = "none": no voice for this language (its answers are captions only)."""

    type: Literal["none"]


@dataclass(frozen=True, slots=True)
class Speech:
    """Audio of a piece of text and the mouth shapes heard in it, sample-exact."""

    audio: np.ndarray
    """float32 mono in [-1, 1]."""
    sample_rate: int
    track: VisemeTrack
    text: str


class TtsEngine(Protocol):
    """Text to speech with a viseme track."""

    sample_rate: int
    languages: tuple[str, ...]
    """ISO 639-1 codes this engine speaks."""
    voice: str
    """The voice it speaks with when none is asked for."""

    def has_voice(self, name: str) -> bool:
        """True when synthesize() can speak with this voice (no new model to load)."""

    def synthesize(self, text: str, voice: str = "") -> Iterator[Speech]:
        """Speech for the text, one piece per sentence, as soon as each is ready."""


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
                          "configure a Chinese voice ([speak.zh]), or set the persona's language to \"en\"; "
                          "until then Chinese answers are shown as captions only")

