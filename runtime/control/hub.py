"""Fan-out from the api actor's thread to the HTTP clients that stream (Server-Sent Events and the
live face), which live in uvicorn's event loop. Bounded everywhere: a few clients at most, a short
queue each (a slow client loses its oldest events, never the device its memory), and only the
newest frame is kept."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from runtime.core.errors import ApiFault

_END = object()
"""Put in a client's queue when the server stops: its stream ends."""


def _put_newest(queue: asyncio.Queue, item: Any) -> None:
    """Put without waiting; when full, drop the oldest first."""
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(item)


class Client:
    """One streaming HTTP client: its queue and the loop it reads it in."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self.loop = loop
        self.queue: asyncio.Queue = asyncio.Queue(size)

    async def next(self, timeout_s: float) -> Any:
        """The next item; None after timeout_s without one; raises StopAsyncIteration once closed."""
        try:
            item = await asyncio.wait_for(self.queue.get(), timeout_s)
        except TimeoutError:
            return None
        if item is _END:
            raise StopAsyncIteration
        return item


class Hub:
    """Clients of two kinds: `events` (dicts) and `frames` (JPEG bytes, newest only)."""

    def __init__(self, *, max_clients: int = 8, queue_size: int = 64) -> None:
        self.max_clients, self.queue_size = max_clients, queue_size
        self._clients: dict[str, set[Client]] = {"events": set(), "frames": set()}
        self._lock = threading.Lock()
        self.closed = False

    def open(self, kind: str) -> Client:
        """A new client (call in the event loop); api-busy when there are too many."""
        with self._lock:
            if self.closed:
                raise ApiFault("api-stopping", "the API is stopping", "retry once the device is back")
            if len(self._clients[kind]) >= self.max_clients:
                raise ApiFault("api-busy", f"{self.max_clients} {kind} streams are open already",
                               "close another console or stream first")
            client = Client(asyncio.get_running_loop(), self.queue_size if kind == "events" else 1)
            self._clients[kind].add(client)
            return client

    def close_client(self, kind: str, client: Client) -> None:
        """Forget a client whose stream ended."""
        with self._lock:
            self._clients[kind].discard(client)

    def wants(self, kind: str) -> bool:
        """Someone listens for this kind."""
        return bool(self._clients[kind])

    def publish(self, kind: str, item: Any) -> None:
        """Hand an item to every client of a kind (from any thread)."""
        with self._lock:
            clients = list(self._clients[kind])
        for client in clients:
            try:
                client.loop.call_soon_threadsafe(_put_newest, client.queue, item)
            except RuntimeError:  # its loop has closed: the server is gone
                self.close_client(kind, client)

    def close(self) -> None:
        """End every stream (the server is stopping)."""
        with self._lock:
            self.closed = True
        for kind in self._clients:
            self.publish(kind, _END)
