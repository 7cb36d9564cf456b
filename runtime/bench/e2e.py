"""End-to-end benchmark: spoken questions through the whole live pipeline, measured on the output.

A visitor track is assembled at bench time (questions synthesized with the voices, English and
Chinese (the Chinese one in another voice than the avatar's), a recorded Chinese clip, and a
barge-in: the visitor talking over an answer), played through the file source at real-time
pace with the real clock, and recorded (left: the avatar, right: the visitor). Every bus message
is kept with its time, so each turn's stages can be laid out; the latencies a visitor feels are
measured on the recording itself.
"""

from __future__ import annotations

import itertools
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zmq

from runtime import product
from runtime.core.bus import receive
from runtime.core.config import Settings
from runtime.core.messages import REGISTRY, ActorState, ActorStatus, AudioFrame, Heartbeat, ProcessStats, VideoFrame
from runtime.core.paths import models_dir
from runtime.speech.audio import SAMPLE_RATE, frame_rms, read_audio, to_db, to_rate
from runtime.store.models import ModelStore

QUESTIONS = ["What time does the museum open today?", "Where can I get a cup of coffee?",
             "Is there a lift to the second floor?", "Can I take photos in the gallery?"]
QUESTIONS_ZH = ["请问洗手间在哪里？", "博物馆几点关门？"]
VISITOR_VOICE_ZH = "zm_yunxi"
"""The Chinese visitor speaks with another voice than the avatar's (when the zh voice is Kokoro)."""
GAP_S = 9.0
"""Silence after each question, for the answer."""
BARGE_AFTER_S = 3.2
"""The barge-in question starts this long after the previous question ends (mid-answer)."""


def _visitor_track(settings: Settings, store: ModelStore) -> tuple[np.ndarray, list[dict]]:
    engine = product.tts_factory(settings)()

    def say(text):
        audio = np.concatenate([p.audio for p in engine.synthesize(text)])
        return _voiced(to_rate(audio, engine.sample_rate))

    def say_zh(text):
        voice = engine.voice("zh")
        other = VISITOR_VOICE_ZH if voice.engine.has_voice(VISITOR_VOICE_ZH) else voice.name
        pieces = list(voice.engine.synthesize(text, other))
        return _voiced(to_rate(np.concatenate([p.audio for p in pieces]), pieces[0].sample_rate))

    pieces, script, cursor = [np.zeros(SAMPLE_RATE, np.float32)], [], SAMPLE_RATE
    items = [(q, "en", say(q), GAP_S) for q in QUESTIONS]
    if "zh" in engine.languages:
        items += [(q, "zh", say_zh(q), GAP_S) for q in QUESTIONS_ZH]
    items.append(("你好世界", "zh", _voiced(read_audio(store.resolve("speech-samples") / "zh-nihao_shijie.wav")),
                  GAP_S))
    items.append(("Tell me everything about the history of this museum, please.", "en",
                  say("Tell me everything about the history of this museum, please."), BARGE_AFTER_S))
    items.append(("Sorry, where is the exit?", "en", say("Sorry, where is the exit?"), GAP_S))
    for text, lang, audio, gap in items:
        script.append({"text": text, "language": lang, "start_s": cursor / SAMPLE_RATE,
                       "end_s": (cursor + len(audio)) / SAMPLE_RATE, "barge_in": False})
        pieces += [audio, np.zeros(int(gap * SAMPLE_RATE), np.float32)]
        cursor += len(audio) + int(gap * SAMPLE_RATE)
    script[-1]["barge_in"] = True
    return np.concatenate(pieces), script


def _voiced(audio: np.ndarray, threshold_dbfs: float = -45.0) -> np.ndarray:
    """The audio from its first to its last voiced 10 ms: script times are the speech's own."""
    hop = SAMPLE_RATE // 100
    voiced = np.nonzero(to_db(frame_rms(audio, hop)) > threshold_dbfs)[0]
    return audio[voiced[0] * hop:(voiced[-1] + 1) * hop] if voiced.size else audio


def run(out: Path | None = None, settings: Settings | None = None, config: str | None = None) -> dict:
    """Run the benchmark; print the summary; write report.json, report.md and timeline.png.

    The product runs as its own process (`edge-talker run --input ... --record ... --exit-when-idle`)
    so memory, CPU and cold start are its own; the bench listens to its bus over TCP.
    """
    from runtime.bench.report import analyse, write_reports
    from runtime.bench.stats import percentiles

    settings = settings or Settings()
    out = (out or Path("bench-out")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    store = ModelStore(models_dir(settings.paths.models))
    audio, script = _visitor_track(settings, store)
    from runtime.bench.broker import free_port

    pub, sub = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    with tempfile.TemporaryDirectory() as tmp:
        import soundfile

        wav = Path(tmp) / "visitor.wav"
        soundfile.write(str(wav), audio, SAMPLE_RATE, subtype="PCM_16")
        base = Path(config).read_text(encoding="utf-8") if config else ""
        cfg = Path(tmp) / "bench.toml"
        cfg.write_text(_with_bench_sections(base, pub, sub), encoding="utf-8")
        recording = out / "recording.mp4"
        context = zmq.Context()
        probe = context.socket(zmq.SUB)
        for cls in REGISTRY.values():
            if cls is not Heartbeat:
                probe.setsockopt(zmq.SUBSCRIBE, cls.TOPIC.encode())
        probe.connect(sub)
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        started, started_ns = time.monotonic(), time.monotonic_ns()
        proc = subprocess.Popen([sys.executable, "-m", "runtime", "run", "--config", str(cfg), "--input", str(wav),
                                 "--record", str(recording), "--exit-when-idle"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        log: list[tuple[float, str]] = []  # (monotonic arrival, line)
        import threading

        reader = threading.Thread(target=lambda: log.extend((time.monotonic(), line) for line in proc.stderr),
                                  daemon=True)
        reader.start()
        messages = []
        try:
            while proc.poll() is None:
                if probe.poll(50):
                    while probe.poll(0):
                        msg = receive(probe, zmq.NOBLOCK)
                        messages.append((VideoFrame, msg.shown_ns, msg.render_ms) if isinstance(msg, VideoFrame)
                                        else msg)
        finally:
            probe.close()
            context.term()
            reader.join(5)
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError("the product failed during the benchmark:\n" + "".join(line for _, line in log[-30:]))
    # Cold start: process start -> the last actor's READY (from the bus, as the fleet sees it).
    ready = [m.t_ns for m in messages if isinstance(m, ActorStatus) and m.state == ActorState.READY]
    stats = [m for m in messages if isinstance(m, ProcessStats)]
    report = analyse(messages, script, recording, settings)
    # Frames while the conversation runs (from the first input sample on), not during start-up.
    first_input = next(m.t_ns for m in messages if isinstance(m, AudioFrame))
    frames = [m for m in messages if isinstance(m, tuple) and m[1] >= first_input]
    render_ms = [m[2] for m in frames]
    span_s = (frames[-1][1] - frames[0][1]) / 1e9 if len(frames) > 1 else 0
    report.update({
        "render_fps": round((len(frames) - 1) / span_s, 1) if span_s else None,
        "dropped_frames": int(sum(round((b[1] - a[1]) / 1e9 * settings.display.fps) - 1
                                  for a, b in itertools.pairwise(frames))),
        "frame_ms": percentiles(render_ms, digits=2) if render_ms else None,
        "peak_rss_mb": max((m.peak_rss_mb for m in stats), default=None),
        "cpu_s_per_turn": round((cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime) / len(script), 2),
        "cold_start_s": round(max(ready) / 1e9 - started_ns / 1e9, 2) if ready else None,
        "wall_s": round(time.monotonic() - started, 1),
    })
    write_reports(report, out)
    return report


def _with_bench_sections(base: str, pub: str, sub: str) -> str:
    """The user's config with the bench's bus (TCP, so the bench can listen), no speaker, no window."""
    import tomli_w

    from runtime.core.compat import tomllib

    data = tomllib.loads(base) if base else {}
    data["bus"] = {**data.get("bus", {}), "pub_endpoint": pub, "sub_endpoint": sub}
    data["play"] = {**data.get("play", {}), "device": "none"}
    data["display"] = {**data.get("display", {}), "window": "off"}
    data["caption"] = {"enabled": False}
    return tomli_w.dumps(data)
