"""Presence benchmark: the presence actor on test videos of visitors walking up and away (real
portraits scaled over a room, runtime.bench.visitors), played in real time as the camera.

Prints, per video, when the approach and the leaving were reported after the face crossed the
size that makes them (the leaving includes [presence] leave_s), and the actor's CPU as a share of
one core: while visitors come and go, and while nobody is there (what presence adds to every
conversation). The video file is decoded in the actor's thread (a real camera's driver does that
elsewhere): its share is measured alone and printed beside it.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import zmq

from runtime.bench.visitors import Shot, crossing, write_video
from runtime.config import Settings
from runtime.core.bus import Bus, receive
from runtime.core.messages import Visitor, VisitorChange
from runtime.core.supervisor import ActorSpec, Supervisor
from runtime.face import avatars
from runtime.face.presence import STAY
from runtime.hardware.camera import VideoFileCamera

WALKERS = [("woman_older_glasses_neutral.jpg", 0.4), ("man_darkskin_smile_teeth.jpg", -0.3),
           ("man_older_turned15.jpg", 0.0), ("man_beard_smile_teeth_turned20_tilted.jpg", -0.5)]
"""Portraits that walk up to the kiosk, and where across the picture they stand."""
SIZE = (640, 480)


def walk(portrait: str, x: float) -> list[Shot]:
    """Nobody, then a visitor walking up (face from 4 % to 32 % of the picture's height in 3 s),
    staying 2 s, walking away in 2 s; then nobody."""
    return [Shot(1.5), Shot(3.0, portrait, 0.04, 0.32, x), Shot(2.0, portrait, 0.32, 0.32, x),
            Shot(2.0, portrait, 0.32, 0.02, x), Shot(4.5)]


def _play(settings: Settings, models, path: Path) -> tuple[list[tuple[float, Visitor]], float, float]:
    """Run the presence actor on a video in real time: (seconds into the video, message) for each
    approach and leaving, the actor's CPU seconds and the wall seconds it ran."""
    from runtime.actors.presence import PresenceActor

    context = zmq.Context()
    bus = Bus("inproc://bench-pub", "inproc://bench-sub", context=context)
    cameras: list[VideoFileCamera] = []

    def camera() -> VideoFileCamera:
        cameras.append(VideoFileCamera(str(path)))
        return cameras[-1]

    spec = ActorSpec("presence", lambda: PresenceActor("presence", bus, camera_factory=camera,
                                                       detector_factory=lambda: models, settings=settings.presence,
                                                       fps=settings.camera.fps))
    supervisor = Supervisor(bus, [spec], settings.supervisor)
    bus.start()
    sub = bus.subscriber([Visitor])
    seen = []
    try:
        supervisor.start()
        actor = supervisor.actors[0]
        cpu0, wall0 = actor.cpu_s or 0.0, time.monotonic()
        while not cameras[0].ended:
            if sub.poll(100):
                msg = receive(sub)
                if msg.change != VisitorChange.PRESENT:
                    seen.append((msg.t_ns / 1e9 - cameras[0].started, msg))
        time.sleep(settings.presence.leave_s + 1.0)  # nobody after the end: a leaving still due comes
        while sub.poll(0):
            msg = receive(sub)
            if msg.change != VisitorChange.PRESENT:
                seen.append((msg.t_ns / 1e9 - cameras[0].started, msg))
        cpu, wall = (actor.cpu_s or 0.0) - cpu0, time.monotonic() - wall0
    finally:
        sub.close()
        supervisor.stop()
        context.term()
    return seen, cpu, wall


def _decode_share(path: Path, fps: float, seconds: float) -> float:
    """CPU share of one core that reading the video at `fps` in real time takes, alone."""
    camera = VideoFileCamera(str(path))
    camera.open()
    cpu0, end = time.thread_time(), time.monotonic() + seconds
    while time.monotonic() < end and not camera.ended:
        camera.read()
        time.sleep(1 / fps)
    camera.close()
    return (time.thread_time() - cpu0) / seconds


def run(out: Path | None = None, settings: Settings | None = None) -> dict:
    """Run the benchmark, print it, return (and optionally write) the numbers."""
    settings = settings or Settings()
    presence, fps = settings.presence, settings.camera.fps
    models = avatars.face_models(settings)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for portrait, x in WALKERS:
            shots, path = walk(portrait, x), Path(tmp) / f"{portrait}.mp4"
            write_video(path, shots, models, width=SIZE[0], height=SIZE[1])
            seen, cpu, wall = _play(settings, models, path)
            came = next((t for t, m in seen if m.change == VisitorChange.APPROACH), None)
            went = next((t for t, m in seen if m.change == VisitorChange.LEFT), None)
            rows.append({"video": portrait, "approaches": sum(m.change == VisitorChange.APPROACH for _, m in seen),
                         "approach_s": _late(came, crossing(shots, presence.approach_size, rising=True)),
                         "leave_s": _late(went, crossing(shots, STAY * presence.approach_size, rising=False)),
                         "cpu_pct": round(100 * cpu / wall, 2)})
        empty = Path(tmp) / "empty.mp4"
        write_video(empty, [Shot(12.0)], models, width=SIZE[0], height=SIZE[1])
        _, idle_cpu, idle_wall = _play(settings, models, empty)
        decode = _decode_share(empty, fps, 8.0)
    report = {"fps": fps, "size": list(SIZE), "approach_size": presence.approach_size,
              "approach_frames": presence.approach_frames, "leave_s_setting": presence.leave_s, "videos": rows,
              "idle_cpu_pct": round(100 * idle_cpu / idle_wall, 2), "file_decode_cpu_pct": round(100 * decode, 2)}
    _print(report)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "presence.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report


def _late(reported: float | None, due: float) -> float | None:
    return None if reported is None else round(reported - due, 2)


def _print(report: dict) -> None:
    print(f"presence benchmark — {report['size'][0]}x{report['size'][1]} video at {report['fps']:g} fps analysed, "
          f"approach at {report['approach_size']:g} of the height x {report['approach_frames']} frames, "
          f"leave after {report['leave_s_setting']:g} s")
    print(f"{'video':45} {'approaches':>10} {'approach +s':>12} {'left +s':>8} {'cpu %':>6}")
    for row in report["videos"]:
        late = [f"{v:.2f}" if v is not None else "missed" for v in (row["approach_s"], row["leave_s"])]
        print(f"{row['video']:45} {row['approaches']:>10} {late[0]:>12} {late[1]:>8} {row['cpu_pct']:>6.2f}")
    print(f"nobody in front of the camera: {report['idle_cpu_pct']:.2f} % of one core "
          f"(of which decoding the video file alone: {report['file_decode_cpu_pct']:.2f} %)")
