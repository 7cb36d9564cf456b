"""Thread helpers shared by actors and their workers: a wake-up pipe and a nicer priority."""

from __future__ import annotations

import contextlib
import logging
import os
import threading

_LOGGER = logging.getLogger(__name__)


def lower_priority(nice: int) -> None:
    """Make the calling thread (and threads it starts from now on) nicer; Linux only, best effort."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
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
