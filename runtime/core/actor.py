"""Actor base: one thread with its own sockets, a control-first poll loop, turns and heartbeats.

An actor adapts the bus to an engine. The loop polls, in this order: the supervisor's pipe
(stop), the control socket (Interrupt and other control messages, drained completely), then
one data message, then any extra file descriptors the actor watches (stdin, a device). So an
interrupt is never stuck behind queued audio, and data of a turn older than the newest
Interrupt is dropped before it reaches the handler.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import zmq

from runtime.core.bus import Bus, Publisher, await_echo, receive
from runtime.core.errors import BusFault, RuntimeFault
from runtime.core.messages import ActorState, ActorStatus, Heartbeat, Interrupt, Message
from runtime.core.threads import Inbox, lower_priority, name_thread

_LOGGER = logging.getLogger(__name__)

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_STOP = b"stop"
T = TypeVar("T")


class Actor:
    """Base class of every actor; subclasses override the hooks below."""

    subscriptions: ClassVar[tuple[type[Message], ...]] = ()
    """Data messages this actor handles."""
    controls: ClassVar[tuple[type[Message], ...]] = (Interrupt,)
    """Control messages this actor handles (read before data)."""
    tick_interval_s: ClassVar[float | None] = None
    """Call tick() this often (seconds); None for never."""
    drop_stale: ClassVar[bool] = True
    """Drop data messages whose turn is older than the current turn."""
    abandon_on_stop: ClassVar[bool] = False
    """Nothing is lost when this actor's thread is left running at exit: it only computes (model
    inference in native code, which cannot be interrupted mid-call and under CPU load can outlast
    the stop budget). Such an overrun does not make a requested stop a failure."""
    nice: ClassVar[int] = 0
    """Scheduling niceness of the actor's thread (and the threads its engine starts): heavy model
    work runs a little nicer, so the face and the speaker never wait for a CPU core."""

    def __init__(self, name: str, bus: Bus, *, heartbeat_s: float = 1.0) -> None:
        self.name = name
        self.bus = bus
        self.heartbeat_s = heartbeat_s
        self.turn = bus.turns.current
        """Newest conversation epoch seen (a restarted actor starts at the bus's current turn)."""
        self.error: BaseException | None = None
        """Why the actor's thread ended, when it failed."""
        self.ready = threading.Event()
        self.finished = threading.Event()
        self.last_beat = time.monotonic()
        """Monotonic time the loop last turned (read by the supervisor's hang check)."""
        self._out: Publisher | None = None
        self._watched: dict[Any, Callable[[], None]] = {}
        self._inboxes: list[Inbox] = []
        self._poller: zmq.Poller | None = None
        self._control: zmq.Socket | None = None
        self._pipe_in: zmq.Socket | None = None
        self._data: zmq.Socket | None = None
        self._bulk: zmq.Socket | None = None
        """Subscribed bulky messages (Message.QUEUE), on their own short queue."""
        self.stop_requested = False
        """The supervisor asked this actor to stop (seen by check_control during long work)."""
        self._thread: threading.Thread | None = None
        self._pipe: zmq.Socket | None = None
        self._pipe_endpoint = f"inproc://edge-talker-actor-{name}-{id(self)}"
        self._beats = 0
        self.degraded: str = ""
        """Why the actor works with less than it should (a fault code), or "" when it is fine."""
        self._degraded_detail = ""

    # --- hooks ------------------------------------------------------------------------------

    def setup(self) -> None:
        """Open engines and devices (runs in the actor's thread before it reports ready)."""

    def handle(self, msg: Message) -> None:
        """Handle one data message of the current turn."""

    def on_interrupt(self, msg: Interrupt) -> None:
        """A newer turn started: cancel in-flight work (self.turn is already updated)."""

    def on_control(self, msg: Message) -> None:
        """Handle a control message other than Interrupt."""

    def tick(self) -> None:
        """Periodic work, every tick_interval_s."""

    def teardown(self) -> None:
        """Release engines and devices (runs in the actor's thread, also after a failure)."""

    # --- helpers for subclasses -------------------------------------------------------------

    def publish(self, msg: Message) -> None:
        """Publish a message on the bus."""
        assert self._out is not None, "publish() before the actor started"
        self._out.publish(msg)

    def check_control(self) -> bool:
        """Handle pending control messages and stop requests now (call between steps of long
        work); True if the turn changed or the actor must stop, so the work should end."""
        before = self.turn
        self.last_beat = time.monotonic()  # long work that checks in is alive, not hung
        if self._control is not None:
            self._drain_control(self._control)
        if self._pipe_in is not None and self._pipe_in.poll(0) and self._pipe_in.recv() == _STOP:
            self.stop_requested = True
        return self.turn != before or self.stop_requested

    def input_waiting(self) -> bool:
        """A subscribed message is queued (background work in tick() should yield to it)."""
        return any(sock is not None and sock.poll(0) for sock in (self._data, self._bulk))

    def receive_waiting(self) -> Message | None:
        """One queued subscribed message (None when none waits, or it could not be decoded)."""
        for sock in (self._data, self._bulk):
            if sock is not None and sock.poll(0):
                return self._receive(sock)
        return None

    def degrade(self, fault: RuntimeFault) -> None:
        """Go on with less (e.g. recording stopped): health reports show the fault's code."""
        self.degraded, self._degraded_detail = fault.code, str(fault)
        self._publish_state(ActorState.DEGRADED, self._degraded_detail)

    def recover(self) -> None:
        """Back to full service after degrade()."""
        if self.degraded:
            self.degraded = ""
            self._publish_state(ActorState.READY, "recovered")

    def open_turn(self) -> int:
        """Start a new conversation turn (this actor's input begins it); returns its number."""
        self.turn = self.bus.turns.next()
        return self.turn

    def inbox(self, handler: Callable[[T], None], maxsize: int = 0) -> Inbox[T]:
        """A thread-safe handoff into this actor's loop: what other threads put() in it is handed,
        in order, to handler here (maxsize 0: unbounded); closed when the actor ends."""
        inbox: Inbox[T] = Inbox(handler, maxsize)
        self._inboxes.append(inbox)
        self.watch(inbox.waker.fd, inbox.deliver)
        return inbox

    def watch(self, source: Any, callback: Callable[[], None]) -> None:
        """Call callback when a file descriptor or socket becomes readable."""
        self._watched[source] = callback
        if self._poller is not None:
            self._poller.register(source, zmq.POLLIN)

    def unwatch(self, source: Any) -> None:
        """Stop watching a file descriptor or socket."""
        if self._watched.pop(source, None) is not None and self._poller is not None:
            self._poller.unregister(source)

    # --- lifecycle (called by the supervisor) -----------------------------------------------

    def start(self) -> None:
        """Start the actor's thread."""
        self._pipe = self.bus.context.socket(zmq.PAIR)
        self._pipe.linger = 0
        self._pipe.bind(self._pipe_endpoint)
        self._thread = threading.Thread(target=self._run, name=f"actor-{self.name}", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the actor to stop without waiting (the supervisor asks every actor at once)."""
        if self._pipe is not None and not self.finished.is_set():
            try:
                self._pipe.send(_STOP, zmq.NOBLOCK)
            except zmq.Again:
                _LOGGER.warning("%s: stop request not delivered (pipe full)", self.name)

    def stop(self, timeout_s: float) -> bool:
        """Ask the actor to stop and wait for it; True when its thread ended in time."""
        if self._pipe is None:
            return True
        self.request_stop()
        ended = self._thread is None or (self._thread.join(timeout_s) or not self._thread.is_alive())
        self._pipe.close()
        self._pipe = None
        return ended

    @property
    def alive(self) -> bool:
        """True while the actor's thread runs."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def cpu_s(self) -> float | None:
        """CPU seconds the actor's thread has used (None when not running or not measurable): a
        thread inside one long native call (a model reading a prompt) shows it works by this."""
        thread = self._thread
        if thread is None or thread.native_id is None or not thread.is_alive():
            return None
        try:  # the kernel's count (by thread id: nothing of a thread that ended is touched)
            with open(f"/proc/self/task/{thread.native_id}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime + stime
        except (OSError, IndexError, ValueError):
            return None

    # --- the thread -------------------------------------------------------------------------

    def _run(self) -> None:
        sockets: list[zmq.Socket] = []
        name_thread(self.name)
        if self.nice:
            lower_priority(self.nice)
        try:
            pipe = self._pipe_in = self.bus.context.socket(zmq.PAIR)
            sockets.append(pipe)
            pipe.linger = 0
            pipe.connect(self._pipe_endpoint)
            control = self._control = self.bus.subscriber([*self.controls, Heartbeat])
            sockets.append(control)
            plain = [t for t in self.subscriptions if not t.QUEUE]
            bulky = [t for t in self.subscriptions if t.QUEUE]  # on their own socket: its queue is short
            data = self._data = self.bus.subscriber(plain) if plain else None
            self._bulk = self.bus.subscriber(bulky) if bulky else None
            sockets.extend(s for s in (data, self._bulk) if s is not None)
            self._out = self.bus.publisher(sync=False)
            sockets.append(self._out.socket)
            self._sync(control)
            self._publish_state(ActorState.STARTING)
            self.setup()
            self.last_beat = time.monotonic()  # loading a model is not hanging
            self._poller = self._make_poller(pipe, control, data)
            self._publish_state(*((ActorState.DEGRADED, self._degraded_detail) if self.degraded
                                  else (ActorState.READY,)))
            self.ready.set()
            _LOGGER.debug("%s: ready", self.name)
            self._loop(pipe, control, data)
            self._publish_state(ActorState.STOPPED)
        except RuntimeFault as err:
            # A fault the user can act on: the supervisor reports it (the CLI prints it with its
            # hint when it happens at start); a traceback would only bury the message.
            self.error = err
            _LOGGER.debug("%s: failed (turn %d): %s", self.name, self.turn, err)
            self._try_publish_state(ActorState.FAILED, str(err))
        except Exception as err:
            self.error = err
            _LOGGER.exception("%s: failed (turn %d)", self.name, self.turn)
            self._try_publish_state(ActorState.FAILED, f"{type(err).__name__}: {err}")
        finally:
            self._safe_teardown()
            for sock in sockets:
                sock.close(linger=0)
            for inbox in self._inboxes:
                inbox.close()
            self._inboxes.clear()
            self._out = self._control = self._pipe_in = self._data = self._bulk = None
            self.finished.set()

    def _sync(self, control: zmq.Socket) -> None:
        """Wait until our first heartbeat comes back: the bus path works both ways."""
        await_echo(self._out, control, self.name)
        self._beats += 1
        control.setsockopt(zmq.UNSUBSCRIBE, Heartbeat.TOPIC.encode())

    def _make_poller(self, pipe, control, data) -> zmq.Poller:
        poller = zmq.Poller()
        for sock in (pipe, control, data, self._bulk, *self._watched):
            if sock is not None:
                poller.register(sock, zmq.POLLIN)
        return poller

    def _loop(self, pipe: zmq.Socket, control: zmq.Socket, data: zmq.Socket | None) -> None:
        next_tick = time.monotonic() + (self.tick_interval_s or 0)
        next_beat = time.monotonic() + self.heartbeat_s
        while True:
            now = time.monotonic()
            wake = min(next_beat, next_tick) if self.tick_interval_s else next_beat
            # (rounded up: a poll that returns a fraction of a millisecond early would spin on poll(0)
            # until the tick is due)
            events = dict(self._poller.poll(max(0, math.ceil((wake - now) * 1000))))
            self.last_beat = time.monotonic()
            if self.stop_requested or (pipe in events and pipe.recv() == _STOP):
                self._publish_state(ActorState.STOPPING)
                return
            if control in events:
                self._drain_control(control)
            for source in (data, self._bulk):
                if source is not None and source in events:
                    msg = self._receive(source)
                    if msg is not None and not (self.drop_stale and msg.turn < self.turn):
                        self.handle(msg)
            for source, callback in list(self._watched.items()):
                if source in events:
                    callback()
            now = time.monotonic()
            if self.tick_interval_s and now >= next_tick:
                # A fixed rate (not "interval after the last tick"): 30 fps stays 30 fps. After a
                # stall, skip the missed ticks instead of bursting to catch up.
                next_tick = max(next_tick + self.tick_interval_s, now)
                self.tick()
            if now >= next_beat:
                next_beat = now + self.heartbeat_s
                self._beat()

    def _drain_control(self, control: zmq.Socket) -> None:
        while control.poll(0):
            msg = self._receive(control)
            if msg is None:
                continue
            if isinstance(msg, Interrupt):
                self.bus.turns.observe(msg.turn)
                if msg.turn > self.turn:
                    self.turn = msg.turn
                    self.on_interrupt(msg)
            elif not isinstance(msg, Heartbeat):
                self.on_control(msg)

    def _receive(self, sock: zmq.Socket) -> Message | None:
        """One message, or None (logged) when it cannot be decoded: bad input is not fatal."""
        try:
            return receive(sock, zmq.NOBLOCK)
        except BusFault as err:
            _LOGGER.warning("%s: dropped a message: %s", self.name, err)
            return None

    def _beat(self) -> None:
        self.publish(Heartbeat(turn=self.turn, actor=self.name, seq=self._beats))
        self._beats += 1

    def _publish_state(self, state: ActorState, detail: str = "") -> None:
        self.publish(ActorStatus(turn=self.turn, actor=self.name, state=state, detail=detail))

    def _try_publish_state(self, state: ActorState, detail: str) -> None:
        if self._out is None:
            return
        try:
            self._publish_state(state, detail)
        except zmq.ZMQError as err:
            _LOGGER.debug("%s: could not report %s: %s", self.name, state, err)

    def _safe_teardown(self) -> None:
        try:
            self.teardown()
        except Exception:
            _LOGGER.exception("%s: teardown failed", self.name)
