"""Text to speech on a Wyoming server (wyoming-piper and the other servers on PyPI).

Each sentence is one request (synthesize -> audio-start, audio-chunk..., audio-stop) on a fresh
connection. The protocol carries no phonemes, so the mouth follows the sound (`from_audio`:
loudness opens the jaw, brightness spreads the lips, near-silence closes them), in step with the
audio by construction.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Literal

import numpy as np
from pydantic import Field

from runtime.core.errors import SpeakFault
from runtime.dialogue.chunker import chunk_text
from runtime.engines.tts import Speech, check_speakable
from runtime.engines.wyoming import WyomingLink, WyomingServer
from runtime.speech.visemes import from_audio
from runtime.store.models import ModelStore

_LOGGER = logging.getLogger(__name__)


class WyomingSpeak(WyomingServer):
    """[speak.<lang>] type = "wyoming": a Wyoming text-to-speech server (wyoming-piper, ...); the
    mouth follows the sound, as the server sends no phonemes."""

    type: Literal["wyoming"]
    voice: str = Field("", max_length=256, description="A voice the server offers; empty = its default.")


def create(cfg: WyomingSpeak, store: ModelStore | None) -> WyomingTtsEngine:
    """The engine for a [speak.<lang>] type = "wyoming" section (no local model)."""
    return WyomingTtsEngine(cfg.uri, voice=cfg.voice, timeout_s=cfg.timeout_s)


def check(cfg: WyomingSpeak) -> str:
    """check-config's look at the server: it offers text to speech."""
    return create(cfg, None).link.check()


class WyomingTtsEngine:
    """One Wyoming TTS server, one voice of it (or its default)."""

    languages = ("en", "zh")
    """The server decides what it can say; the section's language routes text here."""

    def __init__(self, uri: str, *, voice: str = "", timeout_s: float = 10.0) -> None:
        self.uri, self.voice = uri, voice
        self.link = WyomingLink(uri, timeout_s, SpeakFault, "tts", "[speak.<lang>] uri")
        self.sample_rate = 22050
        """The rate of the latest speech (each piece carries its own)."""

    def has_voice(self, name: str) -> bool:
        """Any voice name goes to the server (another voice is another engine here)."""
        return name in ("", self.voice)

    def synthesize(self, text: str, voice: str = "") -> Iterator[Speech]:
        """Speech per sentence, as the server synthesizes each."""
        check_speakable(text, self.languages)
        for sentence in chunk_text([text]):
            started = time.perf_counter()
            audio, rate = self.link.run(self._request(sentence, voice or self.voice))
            _LOGGER.debug("%d characters spoken by %s in %.0f ms", len(sentence), self.uri,
                          (time.perf_counter() - started) * 1000)
            self.sample_rate = rate
            yield Speech(audio, rate, from_audio(audio, rate), sentence)

    async def _request(self, text: str, voice: str) -> tuple[np.ndarray, int]:
        from wyoming.audio import AudioChunk, AudioStart, AudioStop
        from wyoming.tts import Synthesize, SynthesizeVoice

        client = await self.link.connect()
        try:
            await client.write_event(Synthesize(text=text, voice=SynthesizeVoice(name=voice) if voice else None)
                                     .event())
            rate, width, channels, pcm = 0, 2, 1, bytearray()
            while (event := await client.read_event()) is not None:
                if AudioStart.is_type(event.type):
                    start = AudioStart.from_event(event)
                    rate, width, channels = start.rate, start.width, start.channels
                elif AudioChunk.is_type(event.type):
                    pcm += AudioChunk.from_event(event).audio
                elif AudioStop.is_type(event.type):
                    return _samples(bytes(pcm), width, channels, self.uri), rate
            raise self.link.fault("invalid", f"the Wyoming server {self.uri} closed the connection without speech",
                                  "check that [speak.<lang>] uri is a Wyoming text-to-speech server")
        finally:
            await client.disconnect()


def _samples(pcm: bytes, width: int, channels: int, uri: str) -> np.ndarray:
    """16-bit PCM as float32 mono in [-1, 1]."""
    if width != 2 or channels < 1 or len(pcm) % (2 * channels):
        raise SpeakFault("tts-server-invalid", f"the Wyoming server {uri} sent audio of {width} bytes a sample, "
                         f"{channels} channels: only 16-bit PCM is understood", "configure the server for 16-bit")
    audio = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768.0
    return audio.reshape(-1, channels).mean(axis=1) if channels > 1 else audio
