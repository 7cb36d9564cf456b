"""DecodeWorker: runs ASR jobs on one background thread so the listen loop never blocks.

Jobs have priorities: a final (the visitor finished) beats a speculative final (the visitor
paused) beats a partial (the visitor is still talking). A partial is skipped when the worker is
busy, and a newer speculative job replaces a pending one, so the queue never grows and a final
never waits behind stale work. Each result is handed to `deliver` (the actor's inbox).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from runtime.core.errors import RuntimeFault
from runtime.core.threads import lower_priority
from runtime.engines.asr import AsrEngine, AsrResult
from runtime.speech.utterance import JobKind

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Job:
    """Audio of one utterance to decode."""

    kind: JobKind
    utterance: int
    audio: np.ndarray
    end: int
    """Input-timeline sample one past the job's audio."""


@dataclass(frozen=True, slots=True)
class Done:
    """A finished job: its result (or the error) and how long decoding took."""

    job: Job
    result: AsrResult | None
    seconds: float
    error: str = ""
    fault: RuntimeFault | None = None
    """The error when it is one the operator can act on (e.g. a speech server that is down)."""


class DecodeWorker:
    """One thread, one engine, prioritised jobs."""

    def __init__(self, engine: AsrEngine, language: str, deliver: Callable[[Done], object]) -> None:
        self.engine = engine
        self.language = language
        self.deliver = deliver
        """Takes each finished job (from the worker's thread)."""
        self._pending: list[Job] = []
        self._busy = False
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="asr-decode", daemon=True)
        self._thread.start()

    @property
    def idle(self) -> bool:
        """Nothing running and nothing pending."""
        with self._cond:
            return not self._busy and not self._pending

    def submit(self, job: Job) -> bool:
        """Queue a job; False when a partial was skipped because the worker is busy."""
        with self._cond:
            if job.kind == JobKind.PARTIAL and (self._busy or self._pending):
                return False
            if job.kind != JobKind.PARTIAL:
                # A newer speculative or final job supersedes pending partial/speculative work.
                self._pending = [j for j in self._pending if j.kind == JobKind.FINAL]
            self._pending.append(job)
            self._pending.sort(key=lambda j: j.kind)
            self._cond.notify()
            return True

    def close(self, timeout_s: float = 2.0) -> None:
        """Stop after the running job (a decode cannot be cut short)."""
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._cond.notify()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        # Nicer than the listen loop: voice detection (barge-in, endpoints) must keep up with the
        # microphone while a decode runs; at the same priority a loaded box let it fall seconds
        # behind and a barge-in came after the answer was over. (Per-job niceness is no option: an
        # unprivileged thread cannot become less nice again.)
        lower_priority(5)
        while True:
            with self._cond:
                while not self._pending and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                job = self._pending.pop(0)
                self._busy = True
            started = time.monotonic()
            try:
                decode = self.engine.partial if job.kind == JobKind.PARTIAL else self.engine.transcribe
                done = Done(job, decode(job.audio, self.language), time.monotonic() - started)
            except Exception as err:  # noqa: BLE001 - reported to the actor, which logs it once
                done = Done(job, None, time.monotonic() - started, f"{type(err).__name__}: {err}",
                            err if isinstance(err, RuntimeFault) else None)
            with self._cond:
                self._busy = False
                if self._closed:  # the actor stopped without waiting: nobody reads this any more
                    return
            self.deliver(done)
