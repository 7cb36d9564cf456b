"""Voice benchmark, per language: real-time factor, time to first audio, and a round trip through
the product's own recogniser (WER for English, CER for Chinese after simplified normalisation)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from runtime import factories
from runtime.bench.stats import percentiles
from runtime.config import Settings
from runtime.speech.audio import to_rate
from runtime.speech.textnorm import cer, wer

SENTENCES = {
    "en": [
        "The gallery on the second floor opens at nine today.",
        "You can buy your tickets at the desk near the entrance.",
        "Please leave large bags and umbrellas in the cloakroom downstairs.",
        "The guided tour starts every hour from the main hall.",
        "Our cafe serves coffee, tea and fresh cakes until five.",
        "Photos are welcome, but please do not use the flash.",
        "The lift to the roof terrace is behind the museum shop.",
        "Children under twelve can visit the science hall for free.",
    ],
    "zh": [
        "欢迎来到科学博物馆。",
        "洗手间在一楼电梯旁边。",
        "博物馆每天早上九点开门。",
        "儿童票是免费的。",
        "恐龙馆在二楼，请走这边。",
        "咖啡厅在一楼大厅的右边。",
        "请不要触摸展品，谢谢。",
        "纪念品商店就在出口旁边。",
        "如果您需要帮助，请找工作人员。",
        "下一场讲解在下午两点开始。",
    ],
}
"""Everyday kiosk sentences (the zh list is the round-trip set of ten)."""
FIRST_AUDIO = {"en": "Welcome to the science museum.", "zh": "欢迎您来到科学博物馆"}
"""First audio is timed on a short clause: ten Chinese characters, or five English words."""
ROUNDS = 2


def run(out: Path | None = None, settings: Settings | None = None) -> dict:
    """Run the benchmark, print it, return (and optionally write) the numbers."""
    settings = settings or Settings()
    started = time.perf_counter()
    voices = factories.tts_factory(settings)()
    load_s = time.perf_counter() - started
    voices.warm()
    asr = factories.asr_factory(settings)()
    report = {"voices": settings.speak.describe(), "load_s": round(load_s, 2), "languages": {}}
    for language in voices.languages:
        report["languages"][language] = _language(voices, asr, language)
    _print(report)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "speak.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    return report


def _language(voices, asr, language: str) -> dict:
    first_audio, synth_s, audio_s = [], 0.0, 0.0
    for _ in range(ROUNDS):
        started = time.perf_counter()
        next(iter(voices.synthesize(FIRST_AUDIO[language])))
        first_audio.append((time.perf_counter() - started) * 1000)
    heard, said = [], []
    for n in range(ROUNDS):
        for sentence in SENTENCES[language]:
            started = time.perf_counter()
            pieces = list(voices.synthesize(sentence))
            synth_s += time.perf_counter() - started
            audio = np.concatenate([p.audio for p in pieces])
            audio_s += len(audio) / voices.sample_rate
            if n == 0:
                said.append(sentence)
                heard.append(asr.transcribe(to_rate(audio, voices.sample_rate), "auto").text)
    score, joined = (cer, "") if language == "zh" else (wer, " ")
    exact = sum(score(s, h) == 0 for s, h in zip(said, heard, strict=True))
    return {"rtf": round(synth_s / audio_s, 3), "first_audio_ms": percentiles(first_audio),
            "round_trip": {"metric": "CER" if language == "zh" else "WER", "sentences": len(said), "exact": exact,
                           "error": round(score(joined.join(said), joined.join(heard)), 4), "heard": heard}}


def _print(report: dict) -> None:
    print(f"speak benchmark — {report['voices']} (loaded in {report['load_s']} s)")
    for language, row in report["languages"].items():
        trip, first = row["round_trip"], row["first_audio_ms"]
        print(f"  [{language}] real-time factor         : {row['rtf']}")
        print(f"  [{language}] first audio, short clause: p50 {first['p50']} ms, p95 {first['p95']} ms "
              f"({FIRST_AUDIO[language]})")
        print(f"  [{language}] round trip through ASR   : {trip['metric']} {trip['error'] * 100:.1f} % "
              f"({trip['exact']}/{trip['sentences']} sentences exact)")
