"""Transcribe a whole audio file: VAD segments, each decoded, stitched on the file's timeline."""

from __future__ import annotations

import time
from dataclasses import dataclass

from runtime.engines.asr import AsrSegment
from runtime.speech.audio import SAMPLE_RATE, read_audio
from runtime.speech.language import join_words


@dataclass(frozen=True, slots=True)
class FileTranscript:
    """The transcript of a file."""

    text: str
    language: str
    segments: tuple[AsrSegment, ...]
    latency_ms: float
    """Decoding time of the whole file (milliseconds)."""

    def as_dict(self) -> dict:
        """JSON-able form for `transcribe --json`."""
        return {"text": self.text, "language": self.language, "latency_ms": round(self.latency_ms, 1),
                "segments": [{"start": s.start_s, "end": s.end_s, "text": s.text} for s in self.segments]}


def transcribe_file(path: str, engine, vad, language: str = "auto") -> FileTranscript:
    """Decode each voiced stretch of the file; `vad` is a fresh SileroVad."""
    audio = read_audio(path)
    started = time.monotonic()
    vad.accept(audio)
    segments, languages = [], []
    for voiced in vad.flush():
        result = engine.transcribe(voiced.samples, language)
        offset = voiced.start / SAMPLE_RATE
        if result.text:
            languages.append(result.language)
        pieces = result.segments or ((AsrSegment(0.0, len(voiced.samples) / SAMPLE_RATE, result.text),)
                                     if result.text else ())
        segments += [AsrSegment(round(offset + p.start_s, 2), round(offset + p.end_s, 2), p.text) for p in pieces]
    lang = max(set(languages), key=languages.count) if languages else ("" if language == "auto" else language)
    return FileTranscript(join_words(s.text for s in segments), lang, tuple(segments),
                          (time.monotonic() - started) * 1000)
