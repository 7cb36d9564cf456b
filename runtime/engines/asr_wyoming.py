"""Speech to text on a Wyoming server (Home Assistant's protocol for local speech services:
wyoming-faster-whisper, and the other servers on PyPI).

Only the transcription leaves the listen actor: voice detection, endpointing, barge-in and the
language policy stay here. Each decode is one request (transcribe, audio-start, audio-chunk...,
audio-stop -> transcript) on a fresh connection, so a restarted server is simply used again.
"""

from __future__ import annotations

import logging
import time
from typing import Literal

import numpy as np

from runtime.core.errors import ListenFault
from runtime.engines.asr import AsrResult
from runtime.engines.wyoming import WyomingLink, WyomingServer
from runtime.store.models import ModelStore

_LOGGER = logging.getLogger(__name__)

SAMPLE_RATE = 16000
_CHUNK_SAMPLES = 1600
"""Samples per audio-chunk event (100 ms)."""


class WyomingAsr(WyomingServer):
    """[asr] type = "wyoming": a Wyoming speech-to-text server (wyoming-faster-whisper, ...); voice
    detection, endpointing and barge-in stay on the kiosk."""

    type: Literal["wyoming"]


def create(cfg: WyomingAsr, store: ModelStore | None) -> WyomingAsrEngine:
    """The engine for an [asr] type = "wyoming" section (no local model)."""
    return WyomingAsrEngine(cfg.uri, timeout_s=cfg.timeout_s)


def check(cfg: WyomingAsr) -> str:
    """check-config's look at the server: it offers speech to text."""
    return create(cfg, None).link.check()


class WyomingAsrEngine:
    """One Wyoming ASR server; thread-safe (each call has its own connection and event loop)."""

    def __init__(self, uri: str, *, timeout_s: float = 10.0) -> None:
        self.uri = uri
        self.link = WyomingLink(uri, timeout_s, ListenFault, "asr", "[asr] uri")

    def transcribe(self, audio: np.ndarray, language: str = "auto") -> AsrResult:
        """The server's transcript of the whole audio."""
        started = time.perf_counter()
        text, heard = self.link.run(self._request(audio, language))
        _LOGGER.debug("%.1f s of audio transcribed by %s in %.0f ms", len(audio) / SAMPLE_RATE, self.uri,
                      (time.perf_counter() - started) * 1000)
        return AsrResult(text.strip(), heard)

    partial = transcribe
    """A partial is the same request on the audio so far (the protocol has no cheaper one)."""

    async def _request(self, audio: np.ndarray, language: str) -> tuple[str, str]:
        from wyoming.asr import Transcribe, Transcript
        from wyoming.audio import AudioChunk, AudioStart, AudioStop

        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        fmt = {"rate": SAMPLE_RATE, "width": 2, "channels": 1}
        client = await self.link.connect()
        try:
            await client.write_event(Transcribe(language=None if language == "auto" else language).event())
            await client.write_event(AudioStart(**fmt).event())
            step = _CHUNK_SAMPLES * 2
            for at in range(0, len(pcm), step):
                await client.write_event(AudioChunk(audio=pcm[at:at + step], **fmt).event())
            await client.write_event(AudioStop().event())
            while (event := await client.read_event()) is not None:
                if Transcript.is_type(event.type):
                    found = Transcript.from_event(event)
                    return found.text or "", found.language or ""
            raise self.link.fault("invalid", f"the Wyoming server {self.uri} closed the connection without a "
                                  "transcript", "check that [asr] uri is a Wyoming speech-to-text server (not TTS "
                                  "or wake word)")
        finally:
            await client.disconnect()
