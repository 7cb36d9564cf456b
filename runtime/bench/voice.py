"""Voice matching benchmark: on real recordings of people (not our TTS), does the matched voice
sound more like each person than the nearest stock voice, and does it stay intelligible?

Each speaker's speech (after VAD) is cut into a sample (its first 3, 5 or 10 s: the speech the
enrollment's own VAD keeps of it is shown) and a held-back
part (its last HELD_S s, never seen by enrollment). Per row: (a) the ceiling, the similarity of
the sample's two halves to each other; (b) the nearest stock voice and (c) the matched voice,
each speaking EVAL (sentences enrollment never synthesizes), compared with the held-back part;
the margin c - b; the enrollment time on this machine; the round trip of the matched voice's
EVAL speech through the recogniser (WER); the median pitch of the person's held-back speech, of the
nearest stock voice's and of the matched voice's (a cue the embedder does not score). Similarity:
cosine of d-vectors (speaker-embedder); the nearest stock voice is the one whose d-vector is
closest to the sample's.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from runtime.bench.stats import median
from runtime.config import Settings
from runtime.core.paths import cache_dir, models_dir
from runtime.engines.speaker_dvector import unit
from runtime.speech.audio import SAMPLE_RATE, read_audio, to_rate
from runtime.speech.pitch import median_f0
from runtime.speech.textnorm import wer
from runtime.store.models import ModelStore
from runtime.voice import enroll, match

SAMPLES_S = (3, 5, 10)
HELD_S = 5.5
"""Held-back speech per speaker at most (seconds); a sample never reaches into it."""
EVAL = ("The museum opens at nine and closes at six.", "Please follow me to the second floor.",
        "Would you like a cup of tea before we start?")
EDGE_S = 0.4
ASSETS = ("speech-human", "speech-conversation")


def speakers(store: ModelStore, vad) -> dict[str, np.ndarray]:
    """Each held-out speaker's speech (VAD segments joined, 16 kHz): two readers of the
    moonshine-voice assets and the two people of pyannote's conversation (by its RTTM)."""
    store.require(list(ASSETS))
    human = store.model_dir("speech-human")
    talk = store.model_dir("speech-conversation")
    audio = read_audio(talk / "sample.wav")
    turns: dict[str, list[np.ndarray]] = {}
    for line in (talk / "sample.rttm").read_text().splitlines():
        fields = line.split()
        start, length = float(fields[3]), float(fields[4])
        turns.setdefault(fields[7], []).append(audio[int(start * SAMPLE_RATE): int((start + length) * SAMPLE_RATE)])
    raw = {"dickens": read_audio(human / "two_cities.wav"), "beckett": read_audio(human / "beckett.wav"),
           **{f"talk-{who[-2:]}": np.concatenate(parts) for who, parts in sorted(turns.items())}}
    out = {}
    for name, recording in raw.items():
        detector = vad()
        detector.accept(recording)
        out[name] = np.concatenate([s.samples for s in detector.flush()])
    return out


def run(out: Path | None = None, settings: Settings | None = None) -> dict:
    """Run the benchmark, print it, return (and optionally write) the numbers."""
    settings = settings or Settings()
    store = ModelStore(models_dir(settings.paths.models))
    kit = enroll.tools(settings, store)
    budget = match.Budget(settings.voice.candidates, settings.voice.enroll_s)
    started = time.monotonic()
    match.basis(kit.kokoro, kit.embedder, "en", cache_dir(), print)
    rows, basis_s = [], round(time.monotonic() - started, 1)
    for name, speech in speakers(store, kit.vad).items():
        held = speech[-int(min(HELD_S, len(speech) / SAMPLE_RATE - SAMPLES_S[0]) * SAMPLE_RATE):]
        target = kit.embedder.embed(held)
        for seconds in SAMPLES_S:
            if (seconds + EDGE_S) * SAMPLE_RATE > len(speech) - len(held):
                continue
            # A little more than the nominal length: the VAD trims the joined segments' edges again.
            rows.append(_row(kit, name, speech[: int((seconds + EDGE_S) * SAMPLE_RATE)], held, target, budget))
            _print_row(rows[-1])
    report = {"basis_s": basis_s, "budget": {"candidates": budget.evaluations, "enroll_s": budget.seconds},
              "cores": os.cpu_count(), "load": round(os.getloadavg()[0], 1), "rows": rows,
              "beats_nearest": all(r["margin"] > 0 for r in rows),
              "median_margin": median([r["margin"] for r in rows], 3)}
    _print(report)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "voice.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report


def _row(kit: enroll.Tools, name: str, sample: np.ndarray, held: np.ndarray, target: np.ndarray,
         budget: match.Budget) -> dict:
    half = len(sample) // 2
    ceiling = float(kit.embedder.embed(sample[:half]) @ kit.embedder.embed(sample[half:]))
    enrolled = enroll.enroll_audio(kit, sample, "en", budget)
    nearest = kit.kokoro.style(enrolled.meta["nearest_stock"])
    said, heard, speech = [], [], {"matched": [], "nearest": []}
    for text in EVAL:
        for key, style in (("matched", enrolled.style), ("nearest", nearest)):
            speech[key].append(to_rate(kit.kokoro.render(text, style), kit.kokoro.sample_rate, SAMPLE_RATE))
        said.append(text)
        heard.append(kit.asr().transcribe(speech["matched"][-1], "en").text)
    similar = {k: float(unit(np.concatenate([kit.embedder.windows(a) for a in v]).mean(axis=0)) @ target)
               for k, v in speech.items()}
    pitch = {k: round(median_f0(np.concatenate(v)), 1) for k, v in speech.items()}
    return {"speaker": name, "sample_s": enrolled.meta["speech_s"],
            "held_s": round(len(held) / SAMPLE_RATE, 1), "ceiling": round(ceiling, 3),
            "nearest_stock": enrolled.meta["nearest_stock"],
            "nearest": round(similar["nearest"], 3), "matched": round(similar["matched"], 3),
            "margin": round(similar["matched"] - similar["nearest"], 3), "enroll_s": enrolled.meta["enroll_s"],
            "candidates": enrolled.meta["candidates"], "wer": round(wer(" ".join(said), " ".join(heard)), 3),
            "pitch_hz": {"person": round(median_f0(held), 1), **pitch},
            "check_wer": enrolled.meta["round_trip"]["error"]}


def _print_row(row: dict) -> None:
    print(f"  {row['speaker']:10} {row['sample_s']:4.1f} s  ceiling {row['ceiling']:.3f}  nearest "
          f"{row['nearest']:.3f} ({row['nearest_stock']})  matched {row['matched']:.3f}  margin "
          f"{row['margin']:+.3f}  enroll {row['enroll_s']:5.1f} s ({row['candidates']} cand.)  WER "
          f"{row['wer'] * 100:.0f} %  pitch {_hz(row)}", flush=True)


def _hz(row: dict) -> str:
    pitch = row["pitch_hz"]
    return f"{pitch['person']:.0f} / {pitch['nearest']:.0f} / {pitch['matched']:.0f} Hz"


def _print(report: dict) -> None:
    print(f"voice benchmark — {report['cores']} cores, load {report['load']}, budget "
          f"{report['budget']['candidates']} candidates / {report['budget']['enroll_s']:g} s per enrollment; "
          f"stock voices prepared in {report['basis_s']} s (once per device; 0 when cached)")
    print("| speaker | sample | ceiling (halves) | nearest stock | matched | margin | enroll | WER | pitch: person / "
          "nearest / matched |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in report["rows"]:
        print(f"| {r['speaker']} | {r['sample_s']:.1f} s | {r['ceiling']:.3f} | {r['nearest']:.3f} "
              f"({r['nearest_stock']}) | {r['matched']:.3f} | {r['margin']:+.3f} | {r['enroll_s']:.1f} s | "
              f"{r['wer'] * 100:.0f} % | {_hz(r)} |")
    print(f"matched beats the nearest stock voice for every row: {report['beats_nearest']}; median margin "
          f"{report['median_margin']:+.3f}")
