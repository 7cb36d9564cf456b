"""Voice matching benchmark on real people the search was never tuned on: is the voice a visitor
hears after enrollment ever further from the person than the default voice or the nearest stock
voice, by either of two speaker encoders?

Speakers (real recordings that ship in registry packages, not our TTS): HELD_OUT are reported
(`edge-talker bench voice`); TUNING are the ones the search's constants were tuned on ([voice]'s
first table and this change: `python -m runtime.bench.voice --tuning`), never mixed into the
held-out table. Each speaker's speech (after VAD) is cut into a sample (its first 3, 5 or 10 s)
and a held-back part (its last HELD_S s at most, never seen by enrollment). Per row: the
default voice of the language, the nearest stock voice (the one enrollment started from) and the
result (the matched voice when enrollment stored one, else the voice it offered instead: the
device keeps its voice until the operator switches), each
speaking EVAL (sentences enrollment never synthesizes), compared with the held-back part by the
d-vector and by GE2E; the margin of the result over the better of the other two, per encoder (a
poor match that offers a stock voice has margin 0 against it); enrollment time; the round trip
of the result's EVAL speech through the recogniser (WER); the median pitch of each.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from runtime.bench.stats import median
from runtime.config import Settings
from runtime.core.paths import cache_dir
from runtime.places import Places
from runtime.speech.audio import SAMPLE_RATE, read_audio
from runtime.speech.pitch import median_f0
from runtime.speech.textnorm import wer
from runtime.store.models import ModelStore
from runtime.voice import enroll, match, verdict

SAMPLES_S = (3, 5, 10)
HELD_S = 5.5
"""Held-back speech per speaker at most (seconds); a sample never reaches into it."""
MIN_HELD_S = 1.5
EVAL = ("The museum opens at nine and closes at six.", "Please follow me to the second floor.",
        "Would you like a cup of tea before we start?")
EDGE_S = 0.4
ASSETS = ("speech-human", "speech-conversation", "speech-dialogue")
ENDGAME = {"nagg": [(0.0, 1.3), (2.2, 3.9), (4.5, 8.4), (11.7, 14.35), (17.3, 19.15), (20.1, 22.2), (23.45, 27.65)],
           "nell": [(8.4, 11.7), (14.4, 17.3), (22.2, 23.45), (27.65, 28.3)]}
"""Who speaks when in the Endgame scene (speech-dialogue): Nagg ~120 Hz, Nell ~180 Hz median pitch."""
HELD_OUT = {"beckett": "man, read (Worstward Ho)", "nagg": "man, acted dialogue (Endgame)",
            "nell": "woman, acted dialogue (Endgame)"}
TUNING = {"dickens": "man, read (A Tale of Two Cities)", "talk-90": "woman, conversation (telephone band)",
          "talk-91": "woman, conversation (telephone band)"}


def speakers(store: ModelStore, vad, names: dict[str, str]) -> dict[str, np.ndarray]:
    """Each named speaker's speech (VAD segments joined, 16 kHz)."""
    store.require(list(ASSETS))
    human, talk = store.model_dir("speech-human"), store.model_dir("speech-conversation")
    scene = read_audio(store.model_dir("speech-dialogue") / "endgame_nagg_nell.wav")
    audio = read_audio(talk / "sample.wav")
    spans: dict[str, list[tuple[float, float]]] = {}
    for line in (talk / "sample.rttm").read_text().splitlines():
        fields = line.split()
        start = float(fields[3])
        spans.setdefault(f"talk-{fields[7][-2:]}", []).append((start, start + float(fields[4])))

    def cut(recording: np.ndarray, parts: list[tuple[float, float]]) -> np.ndarray:
        return np.concatenate([recording[int(a * SAMPLE_RATE): int(b * SAMPLE_RATE)] for a, b in parts])

    sources = {"dickens": lambda: read_audio(human / "two_cities.wav"),
               "beckett": lambda: read_audio(human / "beckett.wav"),
               **{k: (lambda k=k: cut(audio, spans[k])) for k in spans},
               **{k: (lambda k=k: cut(scene, ENDGAME[k])) for k in ENDGAME}}
    out = {}
    for name in names:
        detector = vad()
        detector.accept(sources[name]())
        out[name] = np.concatenate([s.samples for s in detector.flush()])
    return out


def run(out: Path | None = None, settings: Settings | None = None, *, tuning: bool = False) -> dict:
    """Run the benchmark, print it, return (and optionally write) the numbers."""
    settings = settings or Settings()
    store = Places.of(settings.paths).models
    kit = enroll.tools(settings, store)
    budget = match.Budget(settings.voice.candidates, settings.voice.enroll_s)
    started = time.monotonic()
    match.basis(kit.kokoro, kit.embedder, "en", cache_dir(), print)
    rows, basis_s = [], round(time.monotonic() - started, 1)
    names = TUNING if tuning else HELD_OUT
    for name, speech in speakers(store, kit.vad, names).items():
        held_s = min(HELD_S, len(speech) / SAMPLE_RATE - SAMPLES_S[0] - EDGE_S)
        if held_s < MIN_HELD_S:
            continue
        held = speech[-int(held_s * SAMPLE_RATE):]
        person = verdict.person([held], kit.embedder, kit.ge2e)
        for seconds in SAMPLES_S:
            if (seconds + EDGE_S) * SAMPLE_RATE > len(speech) - len(held):
                continue
            # A little more than the nominal length: the VAD trims the joined segments' edges again.
            sample = speech[: int((seconds + EDGE_S) * SAMPLE_RATE)]
            rows.append(_row(kit, name, names[name], sample, held, person, budget))
            _print_row(rows[-1])
    report = {"set": "tuning" if tuning else "held-out", "speakers": names, "basis_s": basis_s,
              "budget": {"candidates": budget.evaluations, "enroll_s": budget.seconds},
              "cores": os.cpu_count(), "load": round(os.getloadavg()[0], 1), "rows": rows,
              "never_worse": all(min(r["margin"].values()) >= 0 for r in rows if r["stored"]),
              "stored": sum(r["stored"] for r in rows),
              "median_margin": {e: median([r["margin"][e] for r in rows], 3) for e in verdict.ENCODERS}}
    _print(report)
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / f"voice{'-tuning' if tuning else ''}.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report


def _row(kit: enroll.Tools, name: str, who: str, sample: np.ndarray, held: np.ndarray, person: verdict.Person,
         budget: match.Budget) -> dict:
    enrolled = enroll.enroll_audio(kit, sample, "en", budget)
    meta = enrolled.meta
    nearest = meta["nearest_stock"]
    default_name, default = kit.default("en")

    def kokoro(style):
        return verdict.speech(lambda text: kit.kokoro.audio_with_style(text, style), kit.kokoro.sample_rate, EVAL)

    def piper():
        return verdict.speech(lambda text: np.concatenate([p.audio for p in default.synthesize(text, "")]),
                              default.sample_rate, EVAL)

    speech = {"default": piper(), "nearest": kokoro(kit.kokoro.style(nearest))}
    offer = meta["offer"]
    if enrolled.style is not None:
        speech["result"] = kokoro(enrolled.style)
    else:
        speech["result"] = speech["default"] if offer == default_name else kokoro(kit.kokoro.style(offer))
    scores = {k: verdict.similarity(v, person, kit.embedder, kit.ge2e) for k, v in speech.items()}
    heard = [kit.asr().transcribe(a, "en").text for a in speech["result"]]
    margin = {e: round(scores["result"][e] - max(scores["default"][e], scores["nearest"][e]), 3)
              for e in verdict.ENCODERS}
    return {"speaker": name, "who": who, "sample_s": meta["speech_s"], "held_s": round(len(held) / SAMPLE_RATE, 1),
            "default_voice": default_name, "nearest_stock": nearest, "stored": enrolled.style is not None,
            "result_voice": "matched" if enrolled.style is not None else f"not stored, offered {offer}",
            **scores, "margin": margin,
            "enroll_check": meta["similarity"], "enroll_s": meta["enroll_s"], "candidates": meta["candidates"],
            "wer": round(wer(" ".join(EVAL), " ".join(heard)), 3),
            "pitch_hz": {"person": round(median_f0(held), 1),
                         **{k: round(median_f0(np.concatenate(v)), 1) for k, v in speech.items()}}}


def _pair(scores: dict) -> str:
    return " / ".join(f"{scores[e]:.3f}" for e in verdict.ENCODERS)


def _print_row(r: dict) -> None:
    print(f"  {r['speaker']:8} {r['sample_s']:4.1f} s  default {_pair(r['default'])}  nearest {r['nearest_stock']} "
          f"{_pair(r['nearest'])}  {r['result_voice']} {_pair(r['result'])}  margin {_pair(r['margin'])}  enroll "
          f"{r['enroll_s']:5.1f} s ({r['candidates']} cand.)  WER {r['wer'] * 100:.0f} %", flush=True)


def _print(report: dict) -> None:
    who = "; ".join(f"{k}: {v}" for k, v in report["speakers"].items())
    print(f"voice benchmark, {report['set']} speakers ({who}) — {report['cores']} cores, load {report['load']}, "
          f"budget {report['budget']['candidates']} candidates / "
          f"{report['budget']['enroll_s']:g} s per enrollment; stock voices prepared in {report['basis_s']} s "
          "(once per device; 0 when cached). Similarity to held-back speech, d-vector / GE2E:")
    print("| speaker | sample | held back | default | nearest stock | result | margin over the better | enroll | "
          "WER | pitch person / default / nearest / result |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in report["rows"]:
        pitch = r["pitch_hz"]
        print(f"| {r['speaker']} | {r['sample_s']:.1f} s | {r['held_s']:.1f} s | {_pair(r['default'])} "
              f"({r['default_voice']}) | {_pair(r['nearest'])} ({r['nearest_stock']}) | {_pair(r['result'])} "
              f"({r['result_voice']}) | {_pair(r['margin'])} | {r['enroll_s']:.1f} s | {r['wer'] * 100:.0f} % | "
              f"{pitch['person']:.0f} / {pitch['default']:.0f} / {pitch['nearest']:.0f} / {pitch['result']:.0f} Hz |")
    print(f"{report['stored']} of {len(report['rows'])} matches stored; every stored voice closer to the person than "
          f"the default and the nearest stock voice (both encoders): {report['never_worse']}; median margin "
          f"{_pair(report['median_margin'])} (a match not stored: the voice it offered instead)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tuning", action="store_true", help="the speakers the search was tuned on, not the held-out")
    parser.add_argument("--out", type=Path)
    arguments = parser.parse_args()
    run(arguments.out, tuning=arguments.tuning)
