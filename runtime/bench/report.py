"""Turn the end-to-end benchmark's messages and recording into numbers, a table and a timeline."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import cv2
import numpy as np

from runtime.bench.avsync import envelope, mouth_opening, offset_ms
from runtime.bench.stats import median, percentiles
from runtime.core.config import Settings
from runtime.core.messages import (
    AudioFrame,
    PlaybackFinished,
    PlaybackStarted,
    ReplyChunk,
    SpeechAudio,
    SpeechStarted,
    Transcript,
)
from runtime.devices.media import read_clip
from runtime.face import avatars
from runtime.speech.audio import frame_rms

STAGES = ["vad_endpoint", "final_transcript", "first_chunk", "first_llm_chunk", "first_tts_audio",
          "playback_start", "first_lip_synced_frame"]
TARGETS = {"voice_to_voice_ms.p50": 1500, "voice_to_voice_zh_ms.p50": 1500, "barge_in_ms": 200, "render_fps": 30,
           "av_offset_ms": 40, "peak_rss_mb": 2048, "cold_start_s": 10}


def _first(messages, cls, turn, when=lambda m: True):
    return next((m for m in messages if isinstance(m, cls) and m.turn == turn and when(m)), None)


def _sound(audio: np.ndarray, rate: int, threshold: float = 0.01) -> np.ndarray:
    """Indices of 10 ms windows holding sound."""
    hop = rate // 100
    return np.nonzero(frame_rms(audio, hop) > threshold)[0] * hop


def analyse(messages: list, script: list[dict], recording: Path, settings: Settings) -> dict:
    """Per-turn stages from the bus, latencies the visitor feels from the recording."""
    origin = next(m.t_ns - int(len(m.pcm) / m.sample_rate * 1e9) for m in messages
                  if isinstance(m, AudioFrame) and m.offset_samples == 0)
    frames_ns = sorted(m[1] for m in messages if isinstance(m, tuple))
    greetings = {g for p in settings.personas.values() for g in p.greeting.values()}
    frames, fps, avatar, rate = read_clip(recording, channel=0)
    sound = _sound(avatar, rate) / rate
    turns = []
    for item in script:
        final = next((t for t in messages if isinstance(t, Transcript) and t.final
                      and abs(t.start_s - item["start_s"]) < 1.0), None)
        row = {"text": item["text"], "language": item["language"], "heard": final.text if final else None}
        end_ns = origin + int(item["end_s"] * 1e9)
        if final is not None:
            turn = final.turn
            llm = _first(messages, ReplyChunk, turn, lambda m: m.text and m.text not in greetings)
            chunk = _first(messages, ReplyChunk, turn, lambda m: bool(m.text))
            tts = _first(messages, SpeechAudio, turn, lambda m: not m.last)
            play = _first(messages, PlaybackStarted, turn)
            frame = next((f for f in frames_ns if play and f >= play.heard_ns), None)
            marks = {"vad_endpoint": final.t_ns - int(final.latency_ms * 1e6), "final_transcript": final.t_ns,
                     "first_chunk": chunk.t_ns if chunk else None, "first_llm_chunk": llm.t_ns if llm else None,
                     "first_tts_audio": tts.t_ns if tts else None, "playback_start": play.heard_ns if play else None,
                     "first_lip_synced_frame": frame}
            row["stages_ms"] = {k: round((v - end_ns) / 1e6, 1) if v else None for k, v in marks.items()}
        after = sound[(sound > item["end_s"]) & (sound < item["end_s"] + 8.0)]
        row["voice_to_voice_ms"] = round((after[0] - item["end_s"]) * 1000, 1) if after.size else None
        if item["barge_in"]:
            row.update(_barge_in(messages, origin + int(item["start_s"] * 1e9)))
        turns.append(row)
    region = avatars.mouth_region(avatars.load_avatar(settings).landmarks)
    av = offset_ms(mouth_opening(frames, region), envelope(avatar, rate, fps, len(frames)), fps)
    spoken = {lang: [t["voice_to_voice_ms"] for t in turns if t["voice_to_voice_ms"] is not None
                     and t["language"] == lang] for lang in ("en", "zh")}
    stages = {k: median([t.get("stages_ms", {}).get(k) for t in turns]) for k in STAGES}
    barge = next((t for t in turns if "barge_in_ms" in t), {})
    return {
        "voice_to_voice_ms": percentiles(spoken["en"]), "voice_to_voice_zh_ms": percentiles(spoken["zh"]),
        "stages_ms": stages, "first_frame_ms": stages["first_lip_synced_frame"],
        "av_offset_ms": round(av, 1), "barge_in_ms": barge.get("barge_in_ms"),
        "barge_in_detected_ms": barge.get("barge_in_detected_ms"), "turns": turns,
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": _cores(),
                    "python": platform.python_version(), "system": platform.platform()},
        "models": {"asr": getattr(settings.asr, "model", settings.asr.type),
                   "llm": getattr(settings.think, "model", settings.think.type),
                   "voice": settings.speak.describe(),
                   "avatar": settings.avatar.name},
        "config": json.loads(settings.model_dump_json()),
    }


def _barge_in(messages, onset_ns: int) -> dict:
    """Visitor speech onset -> barge-in detected, and -> the speaker's last sample heard."""
    heard = next((m for m in messages if isinstance(m, SpeechStarted) and m.during_playback
                  and m.t_ns >= onset_ns), None)
    if heard is None:
        return {"barge_in_ms": None, "barge_in_note": "no barge-in: the avatar was not speaking"}
    stopped = next((m for m in messages if isinstance(m, PlaybackFinished) and m.interrupted
                    and m.heard_ns >= onset_ns), None)
    return {"barge_in_detected_ms": round((heard.t_ns - onset_ns) / 1e6, 1),
            "barge_in_ms": round((stopped.heard_ns - onset_ns) / 1e6, 1) if stopped else None}


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


def check_targets(report: dict) -> list[tuple[str, float | None, float, bool]]:
    """(metric, value, target, met) for each target of the product."""
    rows = []
    for key, target in TARGETS.items():
        value = report
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if key == "av_offset_ms" and value is not None:
            met = abs(value) <= target
        elif key == "render_fps":
            met = value is not None and value >= target
        else:
            met = value is not None and value <= target
        rows.append((key, value, target, met))
    return rows


def write_reports(report: dict, out: Path) -> None:
    """report.json, report.md and timeline.png; print the summary table."""
    (out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    lines = ["| metric | value | target | met |", "|---|---|---|---|"]
    for key, value, target, met in check_targets(report):
        lines.append(f"| {key} | {value} | {target} | {'yes' if met else 'NO'} |")
    lines += ["", "| stage (ms after the visitor stops) | median |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in report["stages_ms"].items()]
    slowest = _holding_back(report["stages_ms"])
    if slowest:
        lines += ["", f"Largest step towards the first sound: {slowest}."]
    table = "\n".join(lines)
    machine = report["machine"]
    (out / "report.md").write_text(f"# EdgeTalker benchmark\n\nMachine: {machine['cpu']}, {machine['cores']} cores, "
                                   f"Python {machine['python']}. Models: {report['models']}.\n\n{table}\n",
                                   encoding="utf-8")
    _timeline(report, out / "timeline.png")
    print(table)


def _holding_back(stages: dict) -> str:
    order = ["vad_endpoint", "final_transcript", "first_llm_chunk", "first_tts_audio", "playback_start"]
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
