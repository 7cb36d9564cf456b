"""Thread helpers shared by actors and their workers: a wake-up pipe and a nicer priority."""

from __future__ import annotations

import contextlib
import logging
import os
import threading

_LOGGER = logging.getLogger(__name__)

WAIT_PASSIVELY = {"OMP_WAIT_POLICY": "PASSIVE"}
"""OpenMP (llama.cpp's and CTranslate2's thread pools) sleeps instead of spinning between parallel
regions. The recogniser, the model, the voice and the face share a few cores: a spinning pool
burns the time another stage needs. On this 2-core box under load, llama.cpp read a prompt with
half the CPU time and 1.5-2x faster (`OMP_WAIT_POLICY=passive`, SmolLM2, 1 and 2 threads)."""


def share_cores() -> None:
    """Set the thread pools' wait policy before any library starts one (runtime/__init__.py calls
    this first); an operator's own setting wins."""
    for name, value in WAIT_PASSIVELY.items():
        os.environ.setdefault(name, value)


def lower_priority(nice: int) -> None:
    """Make the calling thread (and threads it starts from now on) `nice` steps nicer than it is
    (a service started at Nice=-5 keeps the order between its threads); Linux only, best effort.
    There is no way back: an unprivileged thread cannot become less nice."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(os.getpriority(os.PRIO_PROCESS, tid) + nice, 19))
    except (OSError, AttributeError) as err:
        _LOGGER.debug("could not renice thread: %s", err)


class Waker:
    """A pipe another thread writes to so that the actor's poll loop wakes up (watch `fd`)."""

    def __init__(self) -> None:
        self.fd, self._write_fd = os.pipe()
        os.set_blocking(self._write_fd, False)

    def wake(self) -> None:
        """Wake the actor (safe from any thread; a full pipe means it is already awake)."""
        with contextlib.suppress(BlockingIOError):
            os.write(self._write_fd, b"\0")

    def clear(self) -> None:
        """Consume pending wake-ups (call from the actor's callback)."""
        with contextlib.suppress(BlockingIOError):
            os.read(self.fd, 4096)

    def close(self) -> None:
        """Close both ends."""
        os.close(self.fd)
        os.close(self._write_fd)
