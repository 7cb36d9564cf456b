"""Voice benchmark: real-time factor and time to first audio of a 10-word sentence."""

from __future__ import annotations

import json
import time
from pathlib import Path

from runtime import product
from runtime.bench.stats import percentiles
from runtime.core.config import Settings

SENTENCES = [
    "The gallery on the second floor opens at nine today.",
    "You can buy your tickets at the desk near the entrance.",
    "Please leave large bags and umbrellas in the cloakroom downstairs.",
    "The guided tour starts every hour from the main hall.",
    "Our cafe serves coffee, tea and fresh cakes until five.",
    "Photos are welcome, but please do not use the flash.",
    "The lift to the roof terrace is behind the museum shop.",
    "Children under twelve can visit the science hall for free.",
]


def run(out: Path | None = None, settings: Settings | None = None) -> dict:
    """Run the benchmark, print it, return (and optionally write) the numbers."""
    settings = settings or Settings()
    started = time.perf_counter()
    engine = product.tts_factory(settings)()
    load_s = time.perf_counter() - started
    list(engine.synthesize("Warm up."))
    first_audio, synth_s, audio_s = [], 0.0, 0.0
    for _ in range(3):
        for sentence in SENTENCES:
            started = time.perf_counter()
            for i, speech in enumerate(engine.synthesize(sentence)):
                if i == 0:
                    first_audio.append((time.perf_counter() - started) * 1000)
                audio_s += len(speech.audio) / speech.sample_rate
            synth_s += time.perf_counter() - started
    report = {"voice": settings.speak.voice, "load_s": round(load_s, 2), "rtf": round(synth_s / audio_s, 3),
              "first_audio_ms": percentiles(first_audio)}
    print(f"speak benchmark — voice {report['voice']} (loaded in {report['load_s']} s)")
    print(f"  real-time factor              : {report['rtf']}")
    print(f"  first audio, 10-word sentence : p50 {report['first_audio_ms']['p50']} ms, "
          f"p95 {report['first_audio_ms']['p95']} ms")
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "speak.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report
