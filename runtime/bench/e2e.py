"""End-to-end benchmark: a visitor's recorded human speech through the whole live pipeline,
measured on the output.

The visitor's lines are cut from recordings of people speaking (runtime/bench/references.toml:
questions and follow-ups from a dialogue, English and Chinese, three barge-ins that talk over an
answer) and said at real-time pace by a live microphone on the product's bus (runtime/bench/live.py:
a barge-in line starts BARGE_INTO_S after the answer it talks over begins to sound). Every bus
message is kept with its time, so each turn's stages can be laid out.

By default the product runs as a kiosk runs it: the face in a window (on Xvfb when the machine
has no display), no recording; the answer's time is when the speaker's clock plays its first
sample. With `--record` it also records what the visitor sees and hears (left: the avatar,
right: the visitor), as a kiosk does only when configured; the latencies are then measured on
the recording itself (the first audible sample after the visitor stops, and the first audible
sample of the ANSWER, after any greeting or filler), and so is the lips' offset from the voice.
The recorder's H.264 encoding takes CPU from the other stages, so the two modes differ a little.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import zmq

from runtime.bench.live import LiveVisitor
from runtime.bench.screen import kiosk_screen
from runtime.config import Settings
from runtime.core.bus import receive
from runtime.core.compat import tomllib
from runtime.core.messages import (
    REGISTRY,
    ActorState,
    ActorStatus,
    AudioFrame,
    Heartbeat,
    ProcessStats,
    RenderStats,
    VideoFrame,
)
from runtime.places import Places
from runtime.speech.audio import SAMPLE_RATE, frame_rms, read_audio, to_db
from runtime.store.models import ModelStore

REFERENCES = Path(__file__).with_name("references.toml")
GAP_S = 10.0
"""Silence after each line, for the answer."""
BARGE_AFTER_S = 3.5
"""In the fixed track (visitor_track), a barge-in line starts this long after the line before ends."""
BARGE_INTO_S = 0.6
"""The live visitor's barge-in line starts this long after the answer it talks over began to sound."""
LEAD_S = 1.0
"""Silence before the first line."""
LISTENING = ("listen", "think", "speak", "play")
"""The visitor begins once these actors are ready (their models loaded)."""


def visitor_lines(store: ModelStore) -> list[tuple[np.ndarray, dict]]:
    """Each line's voice (16 kHz, trimmed to it) and its line number, text, language and barge_in flag."""
    lines = tomllib.loads(REFERENCES.read_text(encoding="utf-8"))["visitor"]
    out = []
    for number, line in enumerate(lines):
        audio = read_audio(store.resolve(line["asset"]) / line["file"])
        start, stop = (int(t * SAMPLE_RATE) for t in line["span"])
        out.append((_voiced(audio[start:stop]), {"line": number + 1, "text": line["text"],
                                                 "language": line["language"],
                                                 "barge_in": bool(line.get("barge_in"))}))
    return out


def visitor_track(store: ModelStore) -> tuple[np.ndarray, list[dict]]:
    """The visitor's audio (16 kHz) as one fixed track and its script: text, language, start_s,
    end_s, barge_in per line (a barge-in line BARGE_AFTER_S after the line before ends)."""
    pieces, script, cursor = [np.zeros(int(LEAD_S * SAMPLE_RATE), np.float32)], [], int(LEAD_S * SAMPLE_RATE)
    for voice, line in visitor_lines(store):
        if line["barge_in"] and script:  # start while the avatar answers the line before: take back part of its gap
            back = int((GAP_S - BARGE_AFTER_S) * SAMPLE_RATE)
            pieces[-1] = pieces[-1][: len(pieces[-1]) - back]
            cursor -= back
        script.append({**line, "start_s": cursor / SAMPLE_RATE, "end_s": (cursor + len(voice)) / SAMPLE_RATE})
        pieces += [voice, np.zeros(int(GAP_S * SAMPLE_RATE), np.float32)]
        cursor += len(voice) + int(GAP_S * SAMPLE_RATE)
    return np.concatenate(pieces), script


def _voiced(audio: np.ndarray, threshold_dbfs: float = -45.0, run: int = 3) -> np.ndarray:
    """The audio from the first to the last 10 ms of voice (frames over the threshold, `run` in a
    row: a lone click is no voice; "Ever tried" begins with one 170 ms before the voice): script
    times are the speech's own."""
    hop = SAMPLE_RATE // 100
    loud = (to_db(frame_rms(audio, hop)) > threshold_dbfs).astype(np.int32)
    ends = np.nonzero(np.convolve(loud, np.ones(run, np.int32), mode="valid") == run)[0]
    if not ends.size:
        return audio
    return audio[ends[0] * hop:(ends[-1] + run) * hop]


def run(out: Path | None = None, settings: Settings | None = None, config: str | None = None,
        verbose: bool = False, record: bool = False) -> dict:
    """Run the benchmark; print the summary; write report.json, report.md and timeline.png (and
    with verbose, the product's debug log as product.log: the bench's own visitor, no one else's).

    The product runs as its own process (`edge-talker run --input ... --exit-when-idle`, with
    `--record` when record) so memory, CPU and cold start are its own; the bench listens to its
    bus over TCP.
    """
    from runtime.bench.report import analyse, write_reports
    from runtime.bench.stats import percentiles

    settings = settings or Settings()
    out = (out or Path("bench-out")).resolve()
    out.mkdir(parents=True, exist_ok=True)
    store = Places.of(settings.paths).models
    lines = visitor_lines(store)
    load_before = os.getloadavg()
    from runtime.bench.broker import free_port

    pub, sub = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    with tempfile.TemporaryDirectory() as tmp, (contextlib.nullcontext(({}, False, "")) if record
                                                else kiosk_screen()) as (screen_env, window, screen):
        base = Path(config).read_text(encoding="utf-8") if config else ""
        cfg = Path(tmp) / "bench.toml"
        cfg.write_text(_with_bench_sections(base, pub, sub, window=window), encoding="utf-8")
        recording = out / "recording.mp4" if record else None
        if recording is None and (out / "recording.mp4").exists():
            (out / "recording.mp4").unlink()  # an older run's, not this one's
        print(f"e2e: the product draws on {screen}" if screen else "e2e: recorded (--record), no window")
        context = zmq.Context()
        probe = context.socket(zmq.SUB)
        for cls in REGISTRY.values():
            if cls is not Heartbeat:
                probe.setsockopt(zmq.SUBSCRIBE, cls.TOPIC.encode())
        probe.connect(sub)
        visitor = LiveVisitor(context, pub, lines, lead_s=LEAD_S, gap_s=GAP_S, barge_into_s=BARGE_INTO_S)
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        started, started_ns = time.monotonic(), time.monotonic_ns()
        proc = subprocess.Popen([sys.executable, "-m", "runtime", "run", "--config", str(cfg),
                                 *(["--record", str(recording)] if recording else []), "--exit-when-idle",
                                 *(["-v"] if verbose else [])],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **screen_env} if screen_env else None)
        log: list[tuple[float, str]] = []  # (monotonic arrival, line)
        import threading

        reader = threading.Thread(target=lambda: log.extend((time.monotonic(), line) for line in proc.stderr),
                                  daemon=True)
        reader.start()
        messages, waiting = [], set(LISTENING)
        try:
            while proc.poll() is None:
                if probe.poll(50):
                    while probe.poll(0):
                        msg = receive(probe, zmq.NOBLOCK)
                        visitor.seen(msg)
                        if isinstance(msg, ActorStatus) and msg.state == ActorState.READY and waiting:
                            waiting.discard(msg.actor)
                            if not waiting:
                                visitor.start()  # the product hears, thinks and speaks: the visitor begins
                        messages.append((VideoFrame, msg.shown_ns, msg.render_ms) if isinstance(msg, VideoFrame)
                                        else msg)
        finally:
            visitor.close()
            probe.close()
            context.term()
            reader.join(5)
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if verbose:
        (out / "product.log").write_text("".join(f"{t - started:9.3f} {line}" for t, line in log), encoding="utf-8")
    if proc.returncode != 0:
        raise RuntimeError("the product failed during the benchmark:\n" + "".join(line for _, line in log[-30:]))
    if visitor.error is not None:
        raise RuntimeError(f"the bench's visitor failed: {visitor.error!r}")
    script = visitor.script
    # Cold start: process start -> the last actor's READY (from the bus, as the fleet sees it).
    ready = [m.t_ns for m in messages if isinstance(m, ActorStatus) and m.state == ActorState.READY]
    stats = [m for m in messages if isinstance(m, ProcessStats)]
    report = analyse(messages, script, recording, settings)
    # Frames while the conversation runs (from the first input sample on), not during start-up.
    first_input = next(m.t_ns for m in messages if isinstance(m, AudioFrame))
    frames = [m for m in messages if isinstance(m, tuple) and m[1] >= first_input]
    render_ms = [m[2] for m in frames]
    span_s = (frames[-1][1] - frames[0][1]) / 1e9 if len(frames) > 1 else 0
    shown = [m for m in messages if isinstance(m, RenderStats) and m.t_ns >= first_input]  # without a recording
    report.update({
        "render_fps": (round((len(frames) - 1) / span_s, 1) if span_s else _fps(shown, thinking=False)),
        "thinking_fps": None if span_s else _fps(shown, thinking=True),
        "dropped_frames": int(sum(round((b[1] - a[1]) / 1e9 * settings.display.fps) - 1
                                  for a, b in itertools.pairwise(frames))) if frames else None,
        "frame_ms": (percentiles(render_ms, digits=2) if render_ms else
                     {"max": max(m.render_ms_max for m in shown)} if shown else None),
        "peak_rss_mb": max((m.peak_rss_mb for m in stats), default=None),
        "cpu_s_per_turn": round((cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime) / len(script), 2),
        "cold_start_s": round(max(ready) / 1e9 - started_ns / 1e9, 2) if ready else None,
        "wall_s": round(time.monotonic() - started, 1),
        "load_average": {"before": [round(x, 2) for x in load_before],
                         "after": [round(x, 2) for x in os.getloadavg()]},
    })
    report["shown_on"] = screen or "no window (recorded)"
    write_reports(report, out)
    return report


def _with_bench_sections(base: str, pub: str, sub: str, window: bool = False) -> str:
    """The user's config with the bench's bus (TCP, so the bench can listen), no speaker (the
    silent clock plays in real time), the window on or off, no captions."""
    import tomli_w

    from runtime.core.compat import tomllib

    data = tomllib.loads(base) if base else {}
    data["bus"] = {**data.get("bus", {}), "pub_endpoint": pub, "sub_endpoint": sub}
    data["capture"] = {"type": "bus"}  # the bench's LiveVisitor is the microphone
    data["play"] = {**data.get("play", {}), "device": "none"}
    data["display"] = {**data.get("display", {}), "window": "on" if window else "off"}
    data["caption"] = {"enabled": False}
    return tomli_w.dumps(data)


def _fps(shown: list[RenderStats], *, thinking: bool) -> float | None:
    """Frames drawn a second while the avatar thought (at the display's thinking_fps), or the rest of the time."""
    frames = sum(m.thinking_frames if thinking else m.frames - m.thinking_frames for m in shown)
    seconds = sum(m.thinking_s if thinking else m.span_s - m.thinking_s for m in shown)
    return round(frames / seconds, 1) if seconds > 0 else None
