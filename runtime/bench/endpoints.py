"""When does the listen actor decide that the visitor has finished? The listen actor alone (Silero,
Whisper, the turn model when given) fed at real-time pace with the end-to-end bench's recorded
lines (runtime/bench/references.toml, trimmed to their voice as `edge-talker bench` plays them),
then with sentences a reader breathes in the middle of (a pause of 0.6-0.8 s inserted where the
recording has a short one). Per line: how long after the visitor stopped the endpoint came
(counted in samples on the input timeline) and into how many turns the line was heard.
"""

from __future__ import annotations

import numpy as np

from runtime.config import Settings
from runtime.core.compat import tomllib
from runtime.core.messages import Interrupt, Transcript
from runtime.speech.audio import SAMPLE_RATE, read_audio
from runtime.store.models import ModelStore

GAP_S = 3.0
"""Silence after each line: longer than any endpoint and than resume_s."""
TRAILING_S = 0.2
"""The silence a final's audio keeps after the speech (the listen actor's _TRAILING)."""
BREATHS = [
    ("for good [0.7 s] or for evil", [("speech-human", "two_cities.wav", 32.8, 37.4), 0.7,
                                      ("speech-human", "two_cities.wav", 37.55, 41.6)]),
    ("best of times, [0.6 s] worst of times", [("speech-human", "two_cities.wav", 0.8, 2.8), 0.6,
                                               ("speech-human", "two_cities.wav", 2.95, 4.5)]),
    ("I do. [0.5 s] I think that America", [("speech-dialogue", "clone-test.wav", 0.0, 0.85), 0.5,
                                            ("speech-dialogue", "clone-test.wav", 0.9, 4.11)]),
    ("Ever tried. [0.65 s] Ever failed.", [("speech-human", "beckett.wav", 0.3, 1.22), 0.65,
                                           ("speech-human", "beckett.wav", 1.85, 2.72)]),
    ("Do you remember the day [0.6 s] I went", [("speech-dialogue", "endgame_nagg_nell.wav", 23.45, 24.85), 0.6,
                                                ("speech-dialogue", "endgame_nagg_nell.wav", 24.95, 27.4)]),
]


def track(store: ModelStore) -> tuple[np.ndarray, list[dict]]:
    """The audio and its script (text, kind, start, end in seconds): the bench lines, then the breaths."""
    from runtime.bench.e2e import REFERENCES, _voiced

    def cut(asset, name, start_s, end_s):
        audio = read_audio(store.resolve(asset) / name)
        return _voiced(audio[int(start_s * SAMPLE_RATE):int(end_s * SAMPLE_RATE)])

    def quiet(seconds):
        return np.zeros(int(seconds * SAMPLE_RATE), np.float32)

    items = [(line["text"], "line", [cut(line["asset"], line["file"], *line["span"])])
             for line in tomllib.loads(REFERENCES.read_text(encoding="utf-8"))["visitor"]]
    items += [(name, "breath", [quiet(p) if isinstance(p, float) else cut(*p) for p in parts])
              for name, parts in BREATHS]
    pieces, script, cursor = [quiet(1.0)], [], 1.0
    for text, kind, parts in items:
        audio = np.concatenate(parts)
        script.append({"text": text, "kind": kind, "start": cursor, "end": cursor + len(audio) / SAMPLE_RATE})
        pieces += [audio, quiet(GAP_S)]
        cursor += len(audio) / SAMPLE_RATE + GAP_S
    return np.concatenate(pieces), script


def measure(settings: Settings, store: ModelStore) -> list[dict]:
    """One row per line of the track: finals, turns voided by a resume, the endpoint delay (ms)."""
    from runtime.bench.hear import heard

    audio, script = track(store)
    return _rows(heard(settings, store, audio, (Transcript, Interrupt)), script)


def _rows(messages: list, script: list[dict]) -> list[dict]:
    voided = {m.resumes for m in messages if isinstance(m, Interrupt) and m.resumes >= 0}
    resumed_at, last_start = [], None  # a voided turn belongs to the line of the transcript before it
    for m in messages:
        if isinstance(m, Transcript):
            last_start = m.start_s
        elif isinstance(m, Interrupt) and m.resumes >= 0 and last_start is not None:
            resumed_at.append(last_start)
    finals = [m for m in messages if isinstance(m, Transcript) and m.final and m.text]
    rows = []
    for number, item in enumerate(script):
        upto = min(item["end"] + 2.0, script[number + 1]["start"] if number + 1 < len(script) else float("inf"))
        mine = [t for t in finals if item["start"] - 1 <= t.start_s < upto]
        live = [t for t in mine if t.turn not in voided]
        last = live[-1] if live else None
        rows.append({
            "kind": item["kind"], "text": item["text"], "finals": len(mine),
            "voided": sum(item["start"] - 1 <= t < upto for t in resumed_at),
            "endpoint_ms": None if last is None else round(
                (last.end_s - TRAILING_S + last.silence_ms / 1000 - item["end"]) * 1000),
            "heard": last.text if last else None})
    return rows
