"""End-to-end benchmark: spoken questions through the whole live pipeline, measured on the output.

A visitor track is assembled at bench time (questions synthesized with the voice, a Chinese clip,
and a barge-in: the visitor talking over an answer), played through the file source at real-time
pace with the real clock, and recorded (left: the avatar, right: the visitor). Every bus message
is kept with its time, so each turn's stages can be laid out; the latencies a visitor feels are
measured on the recording itself.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zmq

from runtime import pipeline
from runtime.app import Supervisor
from runtime.audio import SAMPLE_RATE, read_audio
from runtime.bus import Bus, receive
from runtime.config import Settings
from runtime.messages import REGISTRY, Heartbeat, VideoFrame
from runtime.models import ModelStore
from runtime.paths import models_dir

QUESTIONS = ["What time does the museum open today?", "Where can I get a cup of coffee?",
             "Is there a lift to the second floor?", "Can I take photos in the gallery?"]
GAP_S = 9.0
"""Silence after each question, for the answer."""
BARGE_AFTER_S = 3.2
"""The barge-in question starts this long after the previous question ends (mid-answer)."""


def _visitor_track(settings: Settings, store: ModelStore) -> tuple[np.ndarray, list[dict]]:
    engine = pipeline.tts_factory(settings)()
    import soxr

    def say(text):
        audio = np.concatenate([p.audio for p in engine.synthesize(text)])
        return soxr.resample(audio, engine.sample_rate, SAMPLE_RATE).astype(np.float32)

    pieces, script, cursor = [np.zeros(SAMPLE_RATE, np.float32)], [], SAMPLE_RATE
    items = [(q, "en", say(q), GAP_S) for q in QUESTIONS]
    items.append(("你好世界", "zh", read_audio(store.resolve("speech-samples") / "zh-nihao_shijie.wav"), GAP_S))
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


def _cold_start_s(config: Path, silence: Path) -> float:
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "runtime", "run", "--config", str(config), "--input",
                             str(silence), "--exit-when-idle"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "SDL_VIDEODRIVER": "dummy"})
    ready = None
    for line in proc.stderr:
        if "ready:" in line and ready is None:
            ready = time.monotonic() - started
    proc.wait(120)
    return round(ready, 2) if ready else float("nan")


class _Probe:
    """Every bus message with its arrival (recorded in the bench's thread)."""

    def __init__(self, bus: Bus) -> None:
        self.sock = bus.subscriber([c for c in REGISTRY.values() if c is not Heartbeat])
        self.messages: list = []

    def pump(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.sock.poll(50):
                while self.sock.poll(0):
                    msg = receive(self.sock, zmq.NOBLOCK)
                    if isinstance(msg, VideoFrame):
                        msg = (VideoFrame, msg.shown_ns)  # keep the time, drop the pixels
                    self.messages.append(msg)


def run(out: Path | None = None, settings: Settings | None = None) -> dict:
    """Run the benchmark; print the summary; write report.json, report.md and timeline.png."""
    from runtime.bench.report import analyse, write_reports

    settings = settings or Settings()
    out = out or Path("bench-out")
    out.mkdir(parents=True, exist_ok=True)
    store = ModelStore(models_dir(settings.paths.models))
    audio, script = _visitor_track(settings, store)
    with tempfile.TemporaryDirectory() as tmp:
        import soundfile

        wav, silence = Path(tmp) / "visitor.wav", Path(tmp) / "silence.wav"
        soundfile.write(str(wav), audio, SAMPLE_RATE, subtype="PCM_16")
        soundfile.write(str(silence), np.zeros(SAMPLE_RATE, np.float32), SAMPLE_RATE, subtype="PCM_16")
        config = Path(tmp) / "bench.toml"
        config.write_text('[play]\ndevice = "none"\n[display]\nwindow = "off"\n', encoding="utf-8")
        cold = _cold_start_s(config, silence)
        recording = out / "recording.mp4"
        from runtime.config import FileCapture

        live = settings.model_copy(update={
            "capture": FileCapture(type="file", path=str(wav)),
            "record": settings.record.model_copy(update={"path": str(recording), "include_input": True}),
            "play": settings.play.model_copy(update={"device": "none"}),
            "display": settings.display.model_copy(update={"window": "off"}),
            "caption": settings.caption.model_copy(update={"enabled": False})})
        context = zmq.Context()
        bus = Bus("inproc://bench-pub", "inproc://bench-sub", context=context)
        bus.start()
        probe = _Probe(bus)
        supervisor = Supervisor(bus, pipeline.build_specs(live, bus), live.supervisor)
        cpu0 = sum(os.times()[:2])
        try:
            supervisor.start()
            render = next(a for a in supervisor.actors if a.name == "render")
            probe.pump(len(audio) / SAMPLE_RATE + 4.0)
            frame_ms, frames = list(render.frame_ms), render.frames
        finally:
            supervisor.stop()
            probe.sock.close()
            context.term()
        cpu_s = sum(os.times()[:2]) - cpu0
    report = analyse(probe.messages, script, recording, settings)
    report.update({
        "render_fps": round(frames / (len(audio) / SAMPLE_RATE), 1),
        "frame_ms": {"p50": round(statistics.median(frame_ms), 2),
                     "p95": round(float(np.percentile(frame_ms, 95)), 2)} if frame_ms else None,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cpu_s_per_turn": round(cpu_s / len(script), 2),
        "cold_start_s": cold,
    })
    write_reports(report, out)
    return report

