"""Hearing benchmark: WER/CER, real-time factor and endpoint -> final latency of the live path.

Plays the English and Chinese clips and the recorded human speech, separated by pauses, through
the real FileSource -> ListenActor pipeline at real-time pace, and scores the finals it publishes.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import zmq

from runtime import factories
from runtime.bench.stats import percentiles
from runtime.config import Settings
from runtime.core.bus import Bus, receive
from runtime.core.compat import tomllib
from runtime.core.messages import InputEnded, Interrupt, Transcript
from runtime.core.supervisor import ActorSpec, Supervisor
from runtime.places import Places
from runtime.speech.audio import SAMPLE_RATE, read_audio
from runtime.speech.language import join_words
from runtime.speech.textnorm import cer, wer
from runtime.store.models import ModelStore

GAP_S = 1.5
REFERENCES = Path(__file__).with_name("references.toml")
"""Transcripts of the recorded human readings (package data: an installed wheel has it too)."""


def _corpus(store: ModelStore) -> list[tuple[str, str, str, np.ndarray]]:
    """(name, language, reference, audio) for every clip of the benchmark."""
    samples, human = store.resolve("speech-samples"), store.resolve("speech-human")
    refs = tomllib.loads(REFERENCES.read_text(encoding="utf-8"))
    items = []
    for wav in sorted(samples.glob("*.wav")):
        lang = wav.name[:2]
        items.append((wav.stem, lang, wav.with_suffix(".txt").read_text(encoding="utf-8"), read_audio(wav)))
    for name in ("beckett", "two_cities"):
        items.append((name, "en", refs[name]["text"], read_audio(human / f"{name}.wav")))
    return items


def _live(settings: Settings, store: ModelStore, audio: np.ndarray) -> list[Transcript]:
    """Finals of the live listen path for the audio, played at real-time pace; a final whose
    utterance the reader went on with after a breath is void (its words come again in the final
    of the turn that resumed it, as the conversation hears them)."""
    messages = heard(settings, store, audio, (Transcript, Interrupt))
    voided = {m.resumes for m in messages if isinstance(m, Interrupt) and m.resumes >= 0}
    return [m for m in messages if isinstance(m, Transcript) and m.final and m.turn not in voided]


def heard(settings: Settings, store: ModelStore, audio: np.ndarray, kinds: tuple[type, ...]) -> list:
    """The messages of these kinds the listen actor publishes for the audio, played at real-time
    pace from a file (until 5 s after the input ended)."""
    import soundfile

    from runtime.actors.capture import FileSource
    from runtime.actors.listen import ListenActor
    from runtime.speech.audio import to_int16

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.wav"
        soundfile.write(str(path), to_int16(audio), SAMPLE_RATE, subtype="PCM_16")
        context = zmq.Context()
        bus = Bus("inproc://bench-pub", "inproc://bench-sub", context=context)
        specs = [ActorSpec("listen", lambda: ListenActor(
                     "listen", bus, asr_factory=factories.asr_factory(settings, store),
                     vad_factory=factories.vad_factory(settings, store), settings=settings.listen,
                     turn_factory=factories.turn_factory(settings, store))),
                 ActorSpec("capture", lambda: FileSource("capture", bus, path=str(path), tail_silence_s=2.0))]
        supervisor = Supervisor(bus, specs, settings.supervisor)
        bus.start()  # before subscribing; Supervisor.start() finds it running
        sub = bus.subscriber([*kinds, InputEnded])
        messages, ended_at = [], None
        try:
            supervisor.start()
            while ended_at is None or time.monotonic() < ended_at + 5:
                if sub.poll(100):
                    msg = receive(sub)
                    if isinstance(msg, InputEnded):
                        ended_at = time.monotonic()
                    else:
                        messages.append(msg)
        finally:
            sub.close()
            supervisor.stop()
            context.term()
        return messages


def run(out: Path | None = None, settings: Settings | None = None) -> dict:
    """Run the benchmark, print the table, return (and optionally write) the numbers."""
    settings = settings or Settings()
    store = Places.of(settings.paths).models
    corpus = _corpus(store)
    engine = factories.asr_factory(settings, store)()
    engine.transcribe(np.zeros(SAMPLE_RATE, np.float32))  # warm-up
    decode_s = sum(_timed(engine, audio, lang) for _, lang, _, audio in corpus)
    total_s = sum(len(a) for *_, a in corpus) / SAMPLE_RATE

    gap = np.zeros(int(GAP_S * SAMPLE_RATE), np.float32)
    spans, pieces, cursor = [], [gap], len(gap)
    for name, lang, ref, audio in corpus:
        spans.append((name, lang, ref, cursor / SAMPLE_RATE, (cursor + len(audio)) / SAMPLE_RATE))
        pieces += [audio, gap]
        cursor += len(audio) + len(gap)
    finals = _live(settings, store, np.concatenate(pieces))

    rows, latencies = [], [f.latency_ms for f in finals if f.end_s - f.start_s <= 5.0]
    for name, lang, ref, start, end in spans:
        text = join_words(f.text for f in finals if start - 0.5 <= f.start_s < end)
        score = cer(ref, text) if lang == "zh" else wer(ref, text)
        rows.append({"clip": name, "language": lang, "metric": "CER" if lang == "zh" else "WER",
                     "error": round(score, 4), "text": text})
    human = [(ref, r["text"]) for r, (name, _, ref, *_) in zip(rows, spans, strict=True)
             if name in ("beckett", "two_cities")]
    report = {
        "model": getattr(settings.asr, "model", settings.asr.type),
        "wer_human_en": round(wer(" ".join(r for r, _ in human), " ".join(h for _, h in human)), 4),
        "cer_zh": round(statistics.mean(r["error"] for r in rows if r["language"] == "zh"), 4),
        "rtf": round(decode_s / total_s, 3),
        "endpoint_to_final_ms": percentiles(latencies),
        "utterances": len(finals),
        "clips": rows,
    }
    _print(report)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "hear.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    return report


def _timed(engine, audio: np.ndarray, lang: str) -> float:
    started = time.perf_counter()
    engine.transcribe(audio[: 30 * SAMPLE_RATE], lang)
    if len(audio) > 30 * SAMPLE_RATE:
        engine.transcribe(audio[30 * SAMPLE_RATE:], lang)
    return time.perf_counter() - started


def _print(report: dict) -> None:
    lat = report["endpoint_to_final_ms"]
    print(f"hear benchmark — model {report['model']}")
    print(f"  WER, human read English speech : {report['wer_human_en'] * 100:.1f} %")
    print(f"  CER, Chinese clips             : {report['cer_zh'] * 100:.1f} %")
    print(f"  real-time factor (decode)      : {report['rtf']:.3f}")
    print(f"  endpoint -> final, <= 5 s utts : p50 {lat['p50']} ms, p95 {lat['p95']} ms (n={lat['n']})")
    for row in report["clips"]:
        print(f"    {row['clip']:18} {row['metric']} {row['error'] * 100:5.1f} %  {row['text'][:70]}")
