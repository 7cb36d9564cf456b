"""Face benchmark: frame time and fps of the 512x512 renderer on ONE core, and enrollment time."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np

from runtime.bench.stats import percentiles
from runtime.config import Settings
from runtime.core.rates import VOICE_RATE
from runtime.face import avatars
from runtime.face.animator import Animator
from runtime.face.enroll import enroll
from runtime.places import Places
from runtime.speech.visemes import from_audio


def run(out: Path | None = None, settings: Settings | None = None) -> dict:
    """Run the benchmark, print it, return (and optionally write) the numbers."""
    settings = settings or Settings()
    cv2.setNumThreads(1)  # the figure that matters: one core, the rest is for ASR/LLM/TTS
    store = Places.of(settings.paths).models
    models = avatars.face_models(settings, store)
    photo = store.path("portrait-astronaut", "astronaut.png")
    enroll_ms = []
    for _ in range(5):
        started = time.perf_counter()
        enrolled = enroll(photo, models, resolution=settings.avatar.resolution)
        enroll_ms.append((time.perf_counter() - started) * 1000)
    from runtime.face.bundle import Avatar

    started = time.perf_counter()
    face = avatars.renderer(Avatar("bench", enrolled.portrait, enrolled.landmarks, enrolled.meta))
    rig_ms = (time.perf_counter() - started) * 1000
    animator = Animator(seed=1)
    rng = np.random.default_rng(0)
    n = VOICE_RATE * 10
    speech = (rng.normal(0, 0.1, n) * np.abs(np.sin(np.arange(n) / 2000))).astype(np.float32)
    animator.speak(from_audio(speech, VOICE_RATE), 0.0)
    animator.feel("happy", 0.6)
    frame_ms, animate_ms = [], []
    for i in range(600):
        t = i / 60
        started = time.perf_counter()
        params = animator.params(t)
        mid = time.perf_counter()
        face.render(params)
        done = time.perf_counter()
        animate_ms.append((mid - started) * 1000)
        frame_ms.append((done - started) * 1000)
    frames = percentiles(frame_ms)
    report = {"resolution": settings.avatar.resolution, "threads": 1, "frame_ms": frames,
              "animator_ms": percentiles(animate_ms), "fps": round(1000 / frames["p50"], 1),
              "enroll_ms": percentiles(enroll_ms), "rig_ms": round(rig_ms, 1)}
    print(f"face benchmark — {report['resolution']}x{report['resolution']}, one thread")
    print(f"  frame (animator + render)  : p50 {frames['p50']} ms, p95 {frames['p95']} ms -> {report['fps']} fps")
    print(f"  animator alone             : p50 {report['animator_ms']['p50']} ms")
    print(f"  enrollment (detect+mesh+align): p50 {report['enroll_ms']['p50']} ms; rig build {report['rig_ms']} ms")
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "face.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report
