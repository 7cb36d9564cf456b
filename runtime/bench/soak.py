"""bench soak: hundreds of spoken turns back to back through the real pipeline, watching what a
kiosk that runs for months must keep flat: memory, open files, threads, and the response time.

A test visitor (a fake microphone: an AudioSource at the hardware edge) asks the next recorded
question as soon as the previous answer finished playing, unpaced, so the run goes as fast as the
pipeline allows. Every `every` turns it prints the process's RSS, fds and threads and the median
response time of the block and its slowest turn (the question's delivery -> the answer's first
audible sample: the question arrives at once, so the endpoint's wait for silence is not in it; a
long re-read of the conversation shows as a slow turn).
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zmq

from runtime import product
from runtime.actors.capture import AudioSource
from runtime.bench.stats import percentiles
from runtime.config import MicrophoneCapture, Settings
from runtime.core.bus import Bus
from runtime.core.messages import PlaybackFinished, PlaybackStarted, SpeechAudio, Transcript
from runtime.core.supervisor import ActorSpec, Supervisor, process_stats
from runtime.places import Places
from runtime.speech.audio import SAMPLE_RATE, read_audio

_QUESTIONS = [("speech-samples", "en-hello_world.wav"), ("speech-human", "beckett.wav"),
              ("speech-samples", "en-quick_brown_fox.wav"), ("speech-samples", "en-counting.wav")]
_TURN_TIMEOUT_S = 90.0


@dataclass
class Turn:
    """One question and its answer."""

    response_ms: float | None
    """The question's delivery (all its audio at once) -> first audio of the answer; None when
    nothing was said."""
    completed: bool
    question: str = ""
    """Which recorded question was asked (its file name)."""
    missed: str = ""
    """Why a turn did not complete: "heard nothing" (an empty final) or "no answer within 90 s"."""
    transcripts: tuple = ()
    """What the listener sent while it was asked (turn, kind, start_s, end_s, characters: no words),
    reported for a missed turn: why a recorded question could be heard as nothing."""


class SoakVisitor(AudioSource):
    """Asks the next question once the last answer finished playing (or timed out)."""

    subscriptions = (Transcript, SpeechAudio, PlaybackStarted, PlaybackFinished)
    drop_stale = False
    tick_interval_s = 0.02
    source = "soak"

    def __init__(self, name: str, bus, *, questions: list[np.ndarray], turns: int, done,
                 names: list[str] | None = None, **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self.questions, self.turns, self.done = questions, turns, done
        self.names = names or []
        """The questions' file names, for the per-turn report."""
        self.results: list[Turn] = []
        self._asked_at: float | None = None
        self._turn: int | None = None
        self._first_audio: float | None = None
        self._pieces: set[tuple[int, int]] = set()
        self._last_seen = False
        self._heard: list[tuple] = []

    def tick(self) -> None:
        """Ask when nothing is pending; give up on a turn that takes too long."""
        if len(self.results) >= self.turns:
            return
        if self._asked_at is None:
            question = self.questions[len(self.results) % len(self.questions)]
            self.emit(np.concatenate([question, np.zeros(int(1.5 * SAMPLE_RATE), np.float32)]))
            self._asked_at = time.monotonic()
            self._turn, self._first_audio, self._pieces, self._last_seen = None, None, set(), False
            self._heard = []
        elif time.monotonic() - self._asked_at > _TURN_TIMEOUT_S:
            self._finish(completed=False, missed=f"no answer within {_TURN_TIMEOUT_S:.0f} s")

    def handle(self, msg) -> None:
        """Follow the turn this question opened to the end of its answer."""
        if self._asked_at is None:
            return
        if isinstance(msg, Transcript):
            kind = "final" if msg.final else "speculative" if msg.speculative else "partial"
            self._heard.append((msg.turn, kind, round(msg.start_s, 2), round(msg.end_s, 2), len(msg.text.strip())))
        if isinstance(msg, Transcript) and (msg.final or msg.speculative):
            if msg.turn != self._turn:  # an answer prepared ahead is synthesized before its final comes
                self._turn, self._pieces, self._last_seen = msg.turn, set(), False
            if msg.final and not msg.text.strip():
                self._finish(completed=False, missed="heard nothing")
        elif msg.turn != self._turn:
            return
        elif isinstance(msg, SpeechAudio):
            if msg.last:
                self._last_seen = True
            else:
                self._pieces.add((msg.index, msg.part))
        elif isinstance(msg, PlaybackStarted) and self._first_audio is None:
            self._first_audio = msg.heard_ns / 1e9
        elif isinstance(msg, PlaybackFinished):
            self._pieces.discard((msg.index, msg.part))
        if self._last_seen and not self._pieces:
            self._finish(completed=True)

    def _finish(self, completed: bool, missed: str = "") -> None:
        response = None
        if self._first_audio is not None:
            # Unpaced: the question's audio, its 1.5 s tail of silence included, arrives at once and
            # is heard as fast as the listener reads it, so the answer is timed from its delivery
            # (the endpoint's own wait for silence is not in it).
            response = (self._first_audio - self._asked_at) * 1000
        asked = self.names[len(self.results) % len(self.names)] if self.names else ""
        self.results.append(Turn(response, completed, asked, missed, tuple(self._heard) if missed else ()))
        self._asked_at = None
        if len(self.results) >= self.turns:
            self.done.set()


def run(out: Path | None = None, settings: Settings | None = None, *, turns: int = 300, every: int = 25) -> dict:
    """Run the soak; print a line per block of turns and a summary; return the report."""
    settings = settings or Settings()
    settings = settings.model_copy(update={
        "capture": MicrophoneCapture(type="microphone"),  # listen is built; the visitor replaces the device
        "play": settings.play.model_copy(update={"device": "none"}),
        "display": settings.display.model_copy(update={"window": "off"}),
        "record": settings.record.model_copy(update={"path": "", "directory": "", "demo": False}),
        "caption": settings.caption.model_copy(update={"enabled": False})})
    places = Places.of(settings.paths)
    questions = [read_audio(places.models.path(model, name)) for model, name in _QUESTIONS]
    context = zmq.Context()
    bus = Bus("inproc://soak-pub", "inproc://soak-sub", context=context)
    done = threading.Event()
    visitor: list[SoakVisitor] = []

    def make_visitor() -> SoakVisitor:
        actor = SoakVisitor("capture", bus, questions=questions, turns=turns, done=done,
                            names=[name for _, name in _QUESTIONS])
        if visitor:  # restarted after a failure: keep the turns counted so far
            actor.results = visitor[0].results
        visitor[:] = [actor]
        return actor

    specs = [s for s in product.build_specs(settings, bus, places=places) if s.name != "capture"]
    specs.append(ActorSpec("capture", functools.partial(make_visitor)))
    supervisor = Supervisor(bus, specs, settings.supervisor, notify=lambda _: None)
    stop = threading.Event()
    runner = threading.Thread(target=supervisor.run, args=(stop,), name="soak-supervisor", daemon=True)
    blocks: list[dict] = []
    print(f"soak: {turns} turns, a line every {every}")
    print(f"{'turns':>6} {'rss MB':>8} {'fds':>5} {'threads':>8} {'response p50 ms':>16} {'slowest ms':>11} "
          f"{'completed':>10}")
    try:
        supervisor.start()
        runner.start()
        reported = 0
        while not done.wait(0.5):
            results = visitor[0].results if visitor else []
            while len(results) >= reported + every:
                blocks.append(_block(results[reported:reported + every], reported + every))
                reported += every
            if not runner.is_alive():
                break
        results = visitor[0].results if visitor else []
        if len(results) > reported:
            blocks.append(_block(results[reported:], len(results)))
    finally:
        stop.set()
        runner.join(5)
        supervisor.stop()
        context.term()
    report = _summary(blocks, visitor[0].results if visitor else [], every)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "soak.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    return report


def _block(results: list[Turn], upto: int) -> dict:
    stats = process_stats(ready=True)
    row = {"turns": upto, "rss_mb": stats.rss_mb, "fds": stats.fds, "threads": stats.threads,
           "response_ms": percentiles(r.response_ms for r in results),
           "slowest_ms": max((round(r.response_ms, 1) for r in results if r.response_ms is not None), default=None),
           "completed": sum(r.completed for r in results), "of": len(results)}
    print(f"{upto:>6} {stats.rss_mb:>8.1f} {stats.fds:>5} {stats.threads:>8} "
          f"{_or_nan(row['response_ms'].get('p50')):>16.0f} {_or_nan(row['slowest_ms']):>11.0f} "
          f"{row['completed']:>6}/{len(results)}", flush=True)
    return row


def _or_nan(value: float | None) -> float:
    return float("nan") if value is None else value


def _summary(blocks: list[dict], results: list[Turn], every: int) -> dict:
    report = {"turns": len(results), "completed": sum(r.completed for r in results), "blocks": blocks,
              "response_ms": percentiles(r.response_ms for r in results),
              "per_turn": [{"question": r.question, "response_ms": r.response_ms, "completed": r.completed,
                            **({"missed": r.missed, "transcripts": r.transcripts} if r.missed else {})}
                           for r in results]}
    if len(blocks) >= 3:
        warm, last = blocks[0], blocks[-1]  # the first block warms caches and arenas up
        per_100 = (last["rss_mb"] - warm["rss_mb"]) / max(1, last["turns"] - warm["turns"]) * 100
        report.update(rss_growth_mb_per_100_turns=round(per_100, 1),
                      fds_range=[min(b["fds"] for b in blocks[1:]), max(b["fds"] for b in blocks[1:])],
                      threads_range=[min(b["threads"] for b in blocks[1:]), max(b["threads"] for b in blocks[1:])])
        print(f"after warm-up: RSS {per_100:+.1f} MB per 100 turns; fds {report['fds_range']}, "
              f"threads {report['threads_range']}")
    missed = Counter(f"{r.question}: {r.missed}" for r in results if r.missed)
    why = f" ({', '.join(f'{n} x {what}' for what, n in missed.items())})" if missed else ""
    print(f"completed {report['completed']}/{report['turns']}{why}; "
          f"response p50 {report['response_ms'].get('p50')} ms, p95 {report['response_ms'].get('p95')} ms")
    return report
