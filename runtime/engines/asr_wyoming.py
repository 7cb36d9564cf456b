"""Speech to text on a Wyoming server (Home Assistant's protocol for local speech services:
wyoming-faster-whisper, and the other servers on PyPI).

Only the transcription leaves the listen actor: voice detection, endpointing, barge-in and the
language policy stay here. Each decode is one request (transcribe, audio-start, audio-chunk...,
audio-stop -> transcript) on a fresh connection, so a restarted server is simply used again.
"""

from __future__ import annotations

import asyncio
import logging
import time

import numpy as np

from runtime.core.config import WyomingAsr
from runtime.core.errors import ListenFault
from runtime.engines.asr import AsrResult
from runtime.store.models import ModelStore

_LOGGER = logging.getLogger(__name__)

SAMPLE_RATE = 16000
_CHUNK_SAMPLES = 1600
"""Samples per audio-chunk event (100 ms)."""


def create(cfg: WyomingAsr, store: ModelStore | None) -> WyomingAsrEngine:
    """The engine for an [asr] type = "wyoming" section (no local model)."""
    return WyomingAsrEngine(cfg.uri, timeout_s=cfg.timeout_s)


def check(cfg: WyomingAsr) -> str:
    """check-config's look at the server: it answers a describe with a speech-to-text service."""
    names = WyomingAsrEngine(cfg.uri, timeout_s=cfg.timeout_s).describe()
    if not names:
        raise ListenFault("asr-server-invalid", f"the Wyoming server {cfg.uri} offers no speech-to-text service",
                          "point [asr] uri at a Wyoming ASR server (not TTS or wake word)")
    return f"the Wyoming ASR server {cfg.uri} answers ({', '.join(names)})"


class WyomingAsrEngine:
    """One Wyoming ASR server; thread-safe (each call has its own connection and event loop)."""

    def __init__(self, uri: str, *, timeout_s: float = 10.0) -> None:
        self.uri, self.timeout_s = uri, timeout_s

    def transcribe(self, audio: np.ndarray, language: str = "auto") -> AsrResult:
        """The server's transcript of the whole audio."""
        started = time.perf_counter()
        text, heard = self._run(self._request(audio, language))
        _LOGGER.debug("%.1f s of audio transcribed by %s in %.0f ms", len(audio) / SAMPLE_RATE, self.uri,
                      (time.perf_counter() - started) * 1000)
        return AsrResult(text.strip(), heard)

    def _run(self, request):
        """One request's coroutine run to its end, its failures as coded faults."""
        try:
            return asyncio.run(asyncio.wait_for(request, self.timeout_s))
        except TimeoutError as err:
            raise ListenFault("asr-server-timeout", f"the Wyoming ASR server {self.uri} did not answer within "
                              f"{self.timeout_s:g} s", "the server may be overloaded; raise [asr] timeout_s for a "
                              "slow model") from err
        except ValueError as err:  # not Wyoming's JSON header lines
            raise ListenFault("asr-server-invalid", f"{self.uri} does not speak the Wyoming protocol: {err}",
                              "check that [asr] uri is a Wyoming speech-to-text server") from err
        except OSError as err:  # after connecting (connect failures are asr-server-unreachable)
            raise ListenFault("asr-server-lost", f"the connection to the Wyoming ASR server {self.uri} broke: {err}",
                              "check the server's log; the next decode connects again") from err

    def describe(self) -> list[str]:
        """The speech-to-text services the server offers (their names)."""
        return self._run(self._describe())

    async def _describe(self) -> list[str]:
        from wyoming.info import Describe, Info

        client = await self._connect()
        try:
            await client.write_event(Describe().event())
            while True:
                event = await client.read_event()
                if event is None:
                    return []
                if Info.is_type(event.type):
                    return [program.name for program in Info.from_event(event).asr if program.installed]
        finally:
            await client.disconnect()

    partial = transcribe
    """A partial is the same request on the audio so far (the protocol has no cheaper one)."""

    async def _request(self, audio: np.ndarray, language: str) -> tuple[str, str]:
        from wyoming.asr import Transcribe, Transcript
        from wyoming.audio import AudioChunk, AudioStart, AudioStop

        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2").tobytes()
        fmt = {"rate": SAMPLE_RATE, "width": 2, "channels": 1}
        client = await self._connect()
        try:
            await client.write_event(Transcribe(language=None if language == "auto" else language).event())
            await client.write_event(AudioStart(**fmt).event())
            step = _CHUNK_SAMPLES * 2
            for at in range(0, len(pcm), step):
                await client.write_event(AudioChunk(audio=pcm[at:at + step], **fmt).event())
            await client.write_event(AudioStop().event())
            while True:
                event = await client.read_event()
                if event is None:
                    raise ListenFault("asr-server-invalid", f"the Wyoming server {self.uri} closed the connection "
                                      "without a transcript", "check that [asr] uri is a Wyoming speech-to-text "
                                      "server (not TTS or wake word)")
                if Transcript.is_type(event.type):
                    found = Transcript.from_event(event)
                    return found.text or "", found.language or ""
        finally:
            await client.disconnect()

    async def _connect(self):
        from wyoming.client import AsyncClient

        client = AsyncClient.from_uri(self.uri)
        try:
            await client.connect()
        except OSError as err:
            raise ListenFault("asr-server-unreachable", f"cannot reach the Wyoming ASR server {self.uri}: {err}",
                              "start the server, or fix [asr] uri (tcp://host:port)") from err
        return client
