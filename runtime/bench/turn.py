"""Turn model benchmark: inference time (features included) on 2, 4 and 8 s of audio, one thread,
and how the model judges the pauses of recorded human speech.

Every pause of at least 0.2 s between two words of the recordings (Dickens read aloud, Beckett,
dialogue from Endgame; words and times from Whisper base) is judged as the listen actor asks: the
last 8 s up to the word's end, then 0.15 s (at the pause) or 0.35 s (the second look) of silence.
A pause after a word that ends with . ? ! is the end of a sentence; any other is inside one.

Then the listen actor itself (runtime/bench/endpoints.py) on the end-to-end bench's lines and on
sentences with a breath inside, with the words alone (the behaviour before the turn model) and
with the model: the endpoint delay after the visitor stops and the breaths that split a turn.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from runtime.bench.stats import percentiles
from runtime.config import Settings
from runtime.places import Places
from runtime.speech.audio import SAMPLE_RATE, read_audio
from runtime.speech.turn import TURN_FILE, TURN_MODEL, TurnModel
from runtime.store.models import ModelStore

RECORDINGS = [("speech-human", "two_cities.wav"), ("speech-human", "beckett.wav"),
              ("speech-dialogue", "endgame_nagg_nell.wav"), ("speech-dialogue", "clone-test.wav")]
LOOKS_S = (0.15, 0.35)


def _timing(model: TurnModel) -> dict:
    rng = np.random.default_rng(0)
    out = {}
    for seconds in (2, 4, 8):
        audio = (rng.standard_normal(seconds * SAMPLE_RATE) * 0.05).astype(np.float32)
        model.verdict(audio)
        out[f"{seconds}s"] = percentiles([model.verdict(audio).seconds * 1000 for _ in range(30)], digits=1)
    return out


def _pauses(model: TurnModel, store: ModelStore, settings: Settings) -> list[dict]:
    from faster_whisper import WhisperModel

    asr = WhisperModel(str(store.resolve("asr-whisper-base")), device="cpu", compute_type="int8", cpu_threads=2)
    rows = []
    for asset, name in RECORDINGS:
        audio = read_audio(store.resolve(asset) / name)
        segments, _ = asr.transcribe(audio, language="en", word_timestamps=True)
        words = [w for s in segments for w in s.words]
        for word, after in zip(words, [*words[1:], None], strict=True):
            if after is not None and after.start - word.end < 0.2:
                continue
            end = int((word.end + 0.03) * SAMPLE_RATE)
            context = audio[max(0, end - 8 * SAMPLE_RATE):end]
            probs = [model.probability(np.concatenate([context, np.zeros(int(s * SAMPLE_RATE), np.float32)]))
                     for s in LOOKS_S]
            rows.append({"recording": name, "at_s": round(word.end, 2), "word": word.word.strip(),
                         "sentence_end": word.word.strip()[-1:] in ".?!", "p": [round(p, 3) for p in probs]})
    return rows


def run(out: Path | None = None, settings: Settings | None = None) -> dict:
    """Run the benchmark, print it, return (and optionally write) the numbers."""
    settings = settings or Settings()
    store = Places.of(settings.paths).models
    started = time.perf_counter()
    model = TurnModel(store.path(TURN_MODEL, TURN_FILE))
    report = {"load_s": round(time.perf_counter() - started, 2), "inference_ms": _timing(model)}
    rows = _pauses(model, store, settings)
    threshold = settings.listen.turn_threshold
    for label, ends in (("sentence_end", True), ("inside_sentence", False)):
        mine = [r for r in rows if r["sentence_end"] == ends]
        report[label] = {"pauses": len(mine), **{f"finished_at_{s}s": sum(r["p"][i] >= threshold for r in mine)
                                                  for i, s in enumerate(LOOKS_S)},
                         "unfinished_twice": sum(all(p < threshold for p in r["p"]) for r in mine)}
    report["pauses"] = rows
    report["live"] = _live(settings, store)
    print(f"turn model benchmark — {TURN_MODEL}, one thread, load {report['load_s']} s")
    for length, row in report["inference_ms"].items():
        print(f"  inference on {length:3}: p50 {row['p50']} ms, p95 {row['p95']} ms")
    for label in ("sentence_end", "inside_sentence"):
        row = report[label]
        print(f"  pauses at a {label.replace('_', ' '):15}: {row['pauses']:3}; heard as finished at 0.15 s "
              f"{row['finished_at_0.15s']}, at 0.35 s {row['finished_at_0.35s']}; unfinished at both "
              f"{row['unfinished_twice']} (threshold {threshold})")
    _print_live(report["live"])
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "turn.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report


def _live(settings: Settings, store: ModelStore) -> dict:
    from runtime.bench.endpoints import measure

    runs = {"words alone": False, "turn model": True}
    live = {}
    for label, on in runs.items():
        listen = settings.listen.model_copy(update={"turn_model": on})
        rows = measure(settings.model_copy(update={"listen": listen}), store)
        lines = [r["endpoint_ms"] for r in rows if r["kind"] == "line" and r["endpoint_ms"] is not None]
        breaths = [r for r in rows if r["kind"] == "breath"]
        live[label] = {"endpoint_ms": {**percentiles(lines, digits=0), "mean": round(float(np.mean(lines))),
                                       "max": max(lines)},
                       "breaths_split": sum(r["finals"] > 1 or r["voided"] > 0 for r in breaths),
                       "breaths": len(breaths), "rows": rows}
    return live


def _print_live(live: dict) -> None:
    print("  listen actor on the bench lines (endpoint after the visitor stops, ms) and on breaths inside a sentence:")
    for label, run in live.items():
        e = run["endpoint_ms"]
        print(f"    {label:11}: endpoint p50 {e['p50']}, mean {e['mean']}, p95 {e['p95']}, max {e['max']} "
              f"(n {e['n']}); "
              f"breaths that split the turn {run['breaths_split']} of {run['breaths']}")
    labels = list(live)
    for number, row in enumerate(live[labels[0]]["rows"]):
        cells = "  ".join(f"{live[k]['rows'][number]['endpoint_ms']!s:>5} ms {live[k]['rows'][number]['finals']}"
                          f"/{live[k]['rows'][number]['voided']}" for k in labels)
        print(f"      {row['kind']:6} {row['text'][:42]:42} {cells}")
    print("      (per line, words alone then turn model: endpoint, finals / turns voided by a resume)")
