"""Thread helpers shared by actors and their workers: a wake-up pipe, the inbox built on it (the
one handoff from another thread into an actor's loop) and a nicer priority."""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

WAIT_POLICY = {"GOMP_SPINCOUNT": "300000"}
"""How long OpenMP threads (llama.cpp's pool) spin at a barrier before they sleep: libgomp's own
default, about 3 ms, set explicitly. The LLM's decoding meets a barrier hundreds of times per
token; a thread that sleeps there costs a futex wake-up each time. Measured with the default
Qwen2.5 1.5B, 2 threads, alone (llama-cpp-python: a 53-token prompt, a 7-token tail, 20 tokens,
three times each, 2026-12-06): sleeping at once
(OMP_WAIT_POLICY=PASSIVE, this product's setting until then) 53-63 ms a token and 64-79 prompt
tokens/s; spinning 37-40 ms and 83-89 tokens/s. Beside a thread busy 18-40 % of the time (the
face) spinning is still faster (39-46 against 58-60 ms); beside one or two programs that keep a
core busy it is slower (92-124 against 57-65 ms a token), where the thread governor
(runtime/engines/llm_threads.py) moves the decoding to one thread, which has no partner to wait
for. Inside the product (`edge-talker bench`, quiet box): English answers p50 1232 ms spinning
against 1501-1571 sleeping, the first answer chunk 1114 against 1361-1444 ms after the visitor's
last word. CTranslate2's pool (its own libgomp) decodes with one thread: no barrier to wait at."""


def share_cores() -> None:
    """Set the thread pools' wait policy before any library starts one (runtime/__init__.py calls
    this first); an operator's own setting wins (OMP_WAIT_POLICY too: GOMP_SPINCOUNT would
    override it)."""
    if "OMP_WAIT_POLICY" in os.environ:
        return
    for name, value in WAIT_POLICY.items():
        os.environ.setdefault(name, value)


def name_thread(name: str) -> None:
    """Give the calling thread an OS name ("et-" and the first 12 characters of `name`), as
    `top -H`, `ps -L` and py-spy show it; threads it starts from now on (a model's thread pool)
    inherit it. Linux only, best effort."""
    with contextlib.suppress(OSError):
        with open(f"/proc/self/task/{threading.get_native_id()}/comm", "w", encoding="ascii") as comm:
            comm.write("et-" + name.encode("ascii", "replace").decode("ascii")[:12])


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


class Inbox(Generic[T]):
    """The handoff from another thread (a device callback, a network client, a worker) into an
    actor's loop: put() queues an item and wakes the loop, which hands each item, in order, to
    the handler. Made by Actor.inbox(), which watches `waker` and closes the inbox when it ends."""

    def __init__(self, handler: Callable[[T], None], maxsize: int = 0) -> None:
        self._handler = handler
        self._items: queue.Queue[T] = queue.Queue(maxsize)
        self._lock = threading.Lock()
        self._closed = False
        self.waker = Waker()

    def put(self, item: T) -> bool:
        """Hand an item over (safe from any thread, never blocks); False when the inbox is full.
        An item put after the actor ended is dropped: nobody would read it."""
        with self._lock:  # not while close() runs: the pipe's descriptor could be another's by then
            if self._closed:
                return True
            try:
                self._items.put_nowait(item)
            except queue.Full:
                return False
            self.waker.wake()
        return True

    def deliver(self) -> None:
        """Hand every waiting item to the handler (the actor's loop, when woken)."""
        self.waker.clear()
        while True:
            try:
                item = self._items.get_nowait()
            except queue.Empty:
                return
            self._handler(item)

    def take_all(self) -> list[T]:
        """Remove and return the items still waiting (to answer them when the actor stops)."""
        left: list[T] = []
        with contextlib.suppress(queue.Empty):
            while True:
                left.append(self._items.get_nowait())
        return left

    def close(self) -> None:
        """Stop taking items and close the pipe."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self.waker.close()
