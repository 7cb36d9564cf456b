"""Turn the end-to-end benchmark's messages and recording into numbers, a table and a timeline."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import cv2
import numpy as np

from runtime.bench.avsync import envelope, mouth_opening, offset_ms
from runtime.bench.stats import median, percentiles
from runtime.config import Settings
from runtime.control.targets import check_targets
from runtime.core.messages import (
    AudioFrame,
    Interrupt,
    InterruptReason,
    PlaybackFinished,
    PlaybackStarted,
    ReplyChunk,
    SpeechAudio,
    SpeechStarted,
    Transcript,
)
from runtime.face import avatars
from runtime.hardware.media import read_clip
from runtime.speech.audio import frame_rms

STAGES = ["vad_endpoint", "speculative_transcript", "final_transcript", "first_chunk", "first_answer_chunk",
          "first_answer_tts_audio", "first_playback", "answer_playback", "first_lip_synced_frame"]
"""Per-turn stages, each in ms after the visitor stopped speaking (first_*: greeting or answer)."""
BARGE_IN_WITHIN_S = 2.0
"""A barge-in is heard and the avatar silent within this of the visitor's onset, or it is none."""
HEARD_WITHIN_S = 8.0
"""An answer more than this after the visitor stopped counts as none."""
GAP_MS = 30.0
"""Silence between two pieces of one answer longer than this is a gap: the speaker ran dry while
the answer was still being written or synthesized (a pause the visitor hears mid-answer)."""


def _first(messages, cls, turn, when=lambda m: True):
    return next((m for m in messages if isinstance(m, cls) and m.turn == turn and when(m)), None)


def _sound(audio: np.ndarray, rate: int, threshold: float = 0.01) -> np.ndarray:
    """Indices of 10 ms windows holding sound."""
    hop = rate // 100
    return np.nonzero(frame_rms(audio, hop) > threshold)[0] * hop


def _played_within(played_s: float, end_s: float) -> float | None:
    """A time the speaker played something, if within HEARD_WITHIN_S of the visitor's end."""
    return played_s if end_s <= played_s < end_s + HEARD_WITHIN_S else None


def _sound_from(sound_s: np.ndarray, t: float, within: float = HEARD_WITHIN_S) -> float | None:
    """The first sound heard at or after t (seconds on the input timeline), if within `within`."""
    after = sound_s[(sound_s >= t) & (sound_s < t + within)]
    return float(after[0]) if after.size else None


def analyse(messages: list, script: list[dict], recording: Path | None, settings: Settings) -> dict:
    """Per-turn stages from the bus; the latencies the visitor feels from the recording, or
    without one from the speaker's clock (when it played each answer's first sample)."""
    origin = next(m.t_ns - int(len(m.pcm) / m.sample_rate * 1e9) for m in messages
                  if isinstance(m, AudioFrame) and m.offset_samples == 0)
    frames_ns = sorted(m[1] for m in messages if isinstance(m, tuple))
    greetings = {g for p in settings.personas.values() for g in p.greeting.values()}
    if recording is not None:
        frames, fps, avatar, rate = read_clip(recording, channel=0)
        sound = _sound(avatar, rate) / rate
    # A turn the visitor went on from after a breath is void: its words are heard again, whole.
    voided = {m.resumes for m in messages if isinstance(m, Interrupt) and m.resumes >= 0}
    finals = [t for t in messages if isinstance(t, Transcript) and t.final and t.turn not in voided]
    turns = []
    for number, item in enumerate(script):
        # Every final of this line (a visitor who pauses long may make several turns of it); the
        # answer that counts is that of the last one.
        upto = script[number + 1]["start_s"] if number + 1 < len(script) else float("inf")
        mine = [t for t in finals if item["start_s"] - 1.0 <= t.start_s < min(item["end_s"], upto)]
        spoken = [t for t in mine if t.text]
        final = spoken[-1] if spoken else (mine[-1] if mine else None)
        row = {"line": item.get("line"), "text": item["text"], "language": item["language"],
               "barge_in": item["barge_in"], "heard": final.text if final else None, "turns": len(spoken)}
        end_ns = origin + int(item["end_s"] * 1e9)
        play = first_play = None
        if final is not None and final.text:
            turn = final.turn
            ahead = _first(messages, Transcript, turn, lambda m: m.speculative)
            chunk = _first(messages, ReplyChunk, turn, lambda m: bool(m.text))
            answer = _first(messages, ReplyChunk, turn, lambda m: m.text and m.text not in greetings)
            index = answer.index if answer else -1
            tts = _first(messages, SpeechAudio, turn, lambda m, i=index: not m.last and m.index == i)
            first_play = _first(messages, PlaybackStarted, turn)
            play = _first(messages, PlaybackStarted, turn, lambda m, i=index: m.index == i)
            frame = next((f for f in frames_ns if play and f >= play.heard_ns), None)
            marks = {"vad_endpoint": final.t_ns - int(final.latency_ms * 1e6),
                     "speculative_transcript": ahead.t_ns if ahead else None, "final_transcript": final.t_ns,
                     "first_chunk": chunk.t_ns if chunk else None,
                     "first_answer_chunk": answer.t_ns if answer else None,
                     "first_answer_tts_audio": tts.t_ns if tts else None,
                     "first_playback": first_play.heard_ns if first_play else None,
                     "answer_playback": play.heard_ns if play else None, "first_lip_synced_frame": frame}
            row["stages_ms"] = {k: round((v - end_ns) / 1e6, 1) if v else None for k, v in marks.items()}
            row["answered_ahead"] = ahead is not None
            row["silence_ms"] = round(final.silence_ms, 1)
            row["gaps_ms"] = _gaps(messages, turn)
            row["first_answer_chunk"] = answer.text if answer else None  # (the bench's own visitor)
        if recording is not None:
            first = _sound_from(sound, item["end_s"])
            heard = _sound_from(sound, (play.heard_ns - origin) / 1e9 - 0.05) if play is not None else None
        else:  # the speaker's clock: when it played the first sample of the turn, and of its answer
            first = _played_within((first_play.heard_ns - origin) / 1e9, item["end_s"]) if first_play else None
            heard = _played_within((play.heard_ns - origin) / 1e9, item["end_s"]) if play is not None else None
        row["first_audio_ms"] = round((first - item["end_s"]) * 1000, 1) if first is not None else None
        row["voice_to_voice_ms"] = round((heard - item["end_s"]) * 1000, 1) if heard is not None else None
        if item["barge_in"]:
            row.update(_barge_in(messages, origin + int(item["start_s"] * 1e9)))
        turns.append(row)
    av = None
    if recording is not None:
        region = avatars.mouth_region(avatars.load_avatar(settings).landmarks)
        av = offset_ms(mouth_opening(frames, region), envelope(avatar, rate, fps, len(frames)), fps)
    by_language = {lang: [t["voice_to_voice_ms"] for t in turns if t["language"] == lang] for lang in ("en", "zh")}
    stages = {k: median([t.get("stages_ms", {}).get(k) for t in turns]) for k in STAGES}
    barges = [t for t in turns if t["barge_in"]]
    return {
        "voice_to_voice_ms": percentiles(t["voice_to_voice_ms"] for t in turns),
        "voice_to_voice_en_ms": percentiles(by_language["en"]), "voice_to_voice_zh_ms": percentiles(by_language["zh"]),
        "first_audio_ms": percentiles(t["first_audio_ms"] for t in turns),
        "speculation": _speculation(messages, finals),
        "answer_gaps_ms": _gap_summary([t.get("gaps_ms") for t in turns if "gaps_ms" in t]),
        "stages_ms": stages, "first_frame_ms": stages["first_lip_synced_frame"],
        "av_offset_ms": round(av, 1) if av is not None else None,
        "barge_in_ms": percentiles(t.get("barge_in_ms") for t in barges),
        "barge_in_detected_ms": percentiles(t.get("barge_in_detected_ms") for t in barges),
        "barge_ins": len(barges), "turns": turns,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": _cores(),
                    "python": platform.python_version(), "system": platform.platform()},
        "models": {"asr": getattr(settings.asr, "model", settings.asr.type),
                   "llm": getattr(settings.think, "model", settings.think.type),
                   "voice": settings.speak.describe(),
                   "avatar": settings.avatar.name},
        "config": json.loads(settings.model_dump_json()),
    }


def _speculation(messages: list, finals: list) -> dict:
    """Answers prepared ahead at a pause: how many, how many the final committed (hits), how many
    were discarded (the visitor went on, or the final's words differed)."""
    ahead = [m for m in messages if isinstance(m, Transcript) and m.speculative]
    ahead_turns = {m.turn for m in ahead}
    spoken = [f for f in finals if f.text]
    hits = sum(1 for f in spoken if f.turn in ahead_turns)
    discarded = sum(1 for m in messages if isinstance(m, Interrupt) and m.reason == InterruptReason.SPECULATION)
    return {"attempts": len(ahead), "hits": hits, "discarded": discarded,
            "hit_rate": round(hits / len(ahead), 2) if ahead else None,
            "answered_ahead": round(hits / len(spoken), 2) if spoken else None}


def _gaps(messages: list, turn: int) -> list[float]:
    """The silences (ms) between one piece of the turn's speech ending and the next starting, each
    longer than GAP_MS, on the speaker's clock (an answer cut short ends at its cut)."""
    pieces = [m for m in messages if isinstance(m, PlaybackStarted | PlaybackFinished) and m.turn == turn]
    pieces.sort(key=lambda m: (m.heard_ns, isinstance(m, PlaybackStarted)))  # (an end before a start at one time)
    gaps, ended = [], None
    for m in pieces:
        if isinstance(m, PlaybackFinished):
            ended = None if m.interrupted else m.heard_ns
        elif ended is not None:
            gap = (m.heard_ns - ended) / 1e6
            if gap > GAP_MS:
                gaps.append(round(gap, 1))
            ended = None
    return gaps


def _gap_summary(per_turn: list[list[float]]) -> dict:
    """How many answers had a gap mid-answer, and how long the gaps were."""
    every = [g for gaps in per_turn for g in gaps]
    return {"answers": len(per_turn), "with_gap": sum(1 for gaps in per_turn if gaps), "gaps": len(every),
            "p50": median(every), "max": max(every) if every else None, "total": round(sum(every), 1)}


def _barge_in(messages, onset_ns: int) -> dict:
    """Visitor speech onset -> barge-in detected, and -> the last sample heard of the answer the
    visitor talked over (the turn the speaker played last before the onset). An answer caught
    between two of its pieces was already silent: 0 ms, when none of it played afterwards."""
    window = int(BARGE_IN_WITHIN_S * 1e9)
    heard = next((m for m in messages if isinstance(m, SpeechStarted) and m.during_playback
                  and onset_ns <= m.t_ns < onset_ns + window), None)
    if heard is None:
        return {"barge_in_ms": None, "barge_in_note": "no barge-in: the avatar was not speaking"}
    detected = {"barge_in_detected_ms": round((heard.t_ns - onset_ns) / 1e6, 1)}
    playing = sorted((m for m in messages if isinstance(m, PlaybackStarted | PlaybackFinished)),
                     key=lambda m: m.heard_ns)
    before = [m for m in playing if m.heard_ns <= onset_ns]
    turn = before[-1].turn if before else None
    after = [m for m in playing if m.turn == turn and onset_ns < m.heard_ns < onset_ns + window]
    if before and isinstance(before[-1], PlaybackFinished) and not after:
        return {**detected, "barge_in_ms": 0.0,
                "barge_in_note": "the answer was between two pieces at the onset, and no more of it played"}
    stopped = next((m for m in after if isinstance(m, PlaybackFinished) and m.interrupted), None)
    note = {}
    if stopped is None:
        ended = after[-1] if after and isinstance(after[-1], PlaybackFinished) else None  # and nothing after
        note = {"barge_in_note": f"the answer ended by itself {(ended.heard_ns - onset_ns) / 1e6:.0f} ms after the "
                                 "onset, before it was stopped" if ended else
                                 f"heard, but not silent within {BARGE_IN_WITHIN_S:g} s"}
    return {**detected, "barge_in_ms": round((stopped.heard_ns - onset_ns) / 1e6, 1) if stopped else None, **note}


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


def write_reports(report: dict, out: Path) -> None:
    """report.json, report.md and timeline.png; print the summary table."""
    (out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    load = report.get("load_average", {})
    lines = [f"load average (1, 5, 15 min) before: {load.get('before')}, after: {load.get('after')}",
             f"shown on: {report.get('shown_on', '')}", "",
             "| metric | value | target | met |", "|---|---|---|---|"]
    for key, value, target, met in check_targets(report):
        if key == "av_offset_ms" and value is None:  # measured on a recording only
            lines.append(f"| {key} | not measured (no recording: `bench e2e --record`) | {target} | |")
            continue
        lines.append(f"| {key} | {value} | {target} | {'yes' if met else 'NO'} |")
    for key in ("voice_to_voice_en_ms", "voice_to_voice_zh_ms", "first_audio_ms", "barge_in_detected_ms"):
        lines.append(f"| {key} | {report.get(key)} | | |")
    lines.append(f"| speculation | {report.get('speculation')} | | |")
    lines.append(f"| answer_gaps_ms (the speaker ran dry mid-answer) | {report.get('answer_gaps_ms')} | | |")
    lines += ["", "| stage (ms after the visitor stops) | median |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in report["stages_ms"].items()]
    slowest = _holding_back(report["stages_ms"])
    if slowest:
        lines += ["", f"Largest step towards the answer: {slowest}."]
    lines += ["", "| line | language | heard | turns | ahead | silence ms | first audio ms | answer ms | barge-in ms "
                  "| gaps ms |", "|---|---|---|---|---|---|---|---|---|---|"]
    for t in report["turns"]:
        lines.append(f"| {t['line']}{' (barge-in)' if t['barge_in'] else ''} | {t['language']} | {t['heard']} | "
                     f"{t['turns']} | {'yes' if t.get('answered_ahead') else 'no'} | {t.get('silence_ms')} | "
                     f"{t['first_audio_ms']} | {t['voice_to_voice_ms']} | "
                     f"{t.get('barge_in_note', '') if t.get('barge_in_ms') is None else t['barge_in_ms']} | "
                     f"{' '.join(f'{g:.0f}' for g in t.get('gaps_ms', []))} |")
    table = "\n".join(lines)
    machine = report["machine"]
    (out / "report.md").write_text(f"# EdgeTalker benchmark\n\nMachine: {machine['cpu']}, {machine['cores']} cores, "
                                   f"Python {machine['python']}. Models: {report['models']}.\n\n{table}\n",
                                   encoding="utf-8")
    _timeline(report, out / "timeline.png")
    print(table)


def _holding_back(stages: dict) -> str:
    order = ["vad_endpoint", "final_transcript", "first_answer_chunk", "first_answer_tts_audio", "answer_playback"]
    steps, last = [], 0.0
    for name in order:
        value = stages.get(name)
        if value is not None:
            steps.append((value - last, name))
            last = value
    return f"{max(steps)[1]} ({max(steps)[0]:.0f} ms)" if steps else ""


def _timeline(report: dict, path: Path) -> None:
    """A Gantt chart of the first English turn: each stage as a bar from the end of speech."""
    turn = next((t for t in report["turns"] if t.get("stages_ms") and t["language"] == "en"), None)
    width, height, left, scale = 1000, 60 + 40 * len(STAGES), 230, 0.25  # 0.25 px per ms
    image = np.full((height, width, 3), 255, np.uint8)
    if turn is None:
        cv2.imwrite(str(path), image)
        return
    cv2.putText(image, f"turn: {turn['text'][:60]}", (10, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1)
    previous = 0.0
    for row, name in enumerate(STAGES):
        y = 50 + 40 * row
        value = turn["stages_ms"].get(name)
        cv2.putText(image, name, (10, y + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1)
        if value is not None:
            x0, x1 = left + int(previous * scale), left + int(value * scale)
            cv2.rectangle(image, (min(x0, x1), y + 5), (max(x0, x1) + 2, y + 30), (200, 120, 40), -1)
            cv2.putText(image, f"{value:.0f} ms", (max(x0, x1) + 6, y + 24), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        (60, 60, 60), 1)
            previous = max(previous, value)
    cv2.line(image, (left, 40), (left, height - 5), (0, 0, 255), 1)
    cv2.imwrite(str(path), image)
