"""Supervisor: starts and stops actors in order, restarts failed ones with backoff, ends the
process on a restart storm or a hung actor, publishes the process's health, and tells systemd
(sd_notify) what it does: STATUS= lines a person can read, EXTEND_TIMEOUT_USEC= while models
load, READY=1 once every actor is ready, WATCHDOG=1 only while every actor's loop is turning (so
a stuck actor gets the process restarted), STOPPING=1. It knows nothing about the product: the
composition root (runtime.product) hands it the actor specs."""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import Field, model_validator

from runtime.core.actor import Actor
from runtime.core.bus import Bus
from runtime.core.errors import RuntimeFault, SupervisorFault
from runtime.core.messages import ProcessStats
from runtime.core.section import Section
from runtime.core.systemd import sd_notify

_LOGGER = logging.getLogger(__name__)

_TICK_S = 0.05
_RUNAWAY = 10
_WATCH_AFTER_S = 1.5
"""The CPU of an actor's thread is looked at once its loop has been silent this long (or a quarter
of the shortest silence that counts, when that is shorter)."""
"""An actor that computes for this many hang timeouts without checking in is hung all the same."""


class SupervisorConfig(Section):
    """[supervisor] start/stop budgets, restarts with backoff, restart-storm limit."""

    start_timeout_s: float = Field(60.0, gt=0, le=600,
        description="Time one actor may take to become ready (seconds).")
    stop_timeout_s: float = Field(1.5, gt=0, le=30, description="Time all actors together may take to stop (seconds).")
    restart_backoff_s: float = Field(0.2, ge=0, le=60,
        description="Delay before the first restart of a failed actor (seconds).")
    restart_backoff_max_s: float = Field(5.0, ge=0, le=600,
        description="Longest delay between restarts; doubles up to this (seconds).")
    storm_max_restarts: int = Field(5, ge=1, le=1000,
        description="Restarts of one actor within storm_window_s that end the process.")
    storm_window_s: float = Field(60.0, gt=0, le=86400, description="Window for counting restarts (seconds).")
    hang_timeout_s: float = Field(30.0, gt=0, le=3600,
        description="An actor whose loop has not turned this long, and whose thread did not compute meanwhile, is "
                    "hung: the process exits non-zero (seconds). Computing without checking in counts for 10x this.")
    confirm_s: float = Field(120.0, ge=5, le=3600,
        description="An operator's change that restarts the kiosk must be healthy (every actor ready, the fleet link "
                    "connected) within this time, else the kiosk rolls back to the last good document (seconds).")

    @model_validator(mode="after")
    def _backoff_order(self) -> SupervisorConfig:
        if self.restart_backoff_max_s < self.restart_backoff_s:
            raise ValueError(f"restart_backoff_max_s ({self.restart_backoff_max_s:g}) is below restart_backoff_s "
                             f"({self.restart_backoff_s:g})")
        return self


@dataclass
class ActorSpec:
    """How to make an actor; called again for every restart."""

    name: str
    factory: Callable[[], Actor]
    stop_budget_s: float | None = None
    """Its own time to stop (e.g. a recorder finishing its file), instead of a share of the
    supervisor's stop_timeout_s."""


@dataclass
class _Slot:
    spec: ActorSpec
    actor: Actor | None = None
    restart_at: float | None = None
    restarts: deque = field(default_factory=deque)
    """Monotonic times of recent restarts (within the storm window)."""
    cpu_s: float | None = None
    """The actor thread's CPU time when last looked at."""
    working_at: float = 0.0
    """Monotonic time its thread was last seen using CPU."""


def peak_rss_mb() -> float:
    """This process's own peak resident memory (MB): the kernel's high-water mark of its memory
    map (VmHWM). Not getrusage's ru_maxrss: a child keeps its parent's peak across fork and exec,
    so a kiosk started by a 5 GB test runner reported a "5.4 GB peak" of its own."""
    import resource

    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # not Linux


def process_stats(*, ready: bool) -> ProcessStats:
    """This process's memory, threads and open files now."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            rss_mb = int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
        fds = len(os.listdir("/proc/self/fd"))
    except OSError:  # not Linux: what getrusage knows
        rss_mb, fds = usage.ru_maxrss / 1024, -1
    return ProcessStats(rss_mb=round(rss_mb, 1), peak_rss_mb=round(peak_rss_mb(), 1),
                        threads=threading.active_count(), fds=fds,
                        cpu_s=round(usage.ru_utime + usage.ru_stime, 2), ready=ready)


class Supervisor:
    """Owns the actors' lifecycles; specs are in start order (consumers before producers)."""

    def __init__(self, bus: Bus, specs: list[ActorSpec], settings: SupervisorConfig,
                 *, notify: Callable[[str], None] = sd_notify) -> None:
        self.bus = bus
        self.settings = settings
        self.notify = notify
        self.slots = [_Slot(spec) for spec in specs]
        self._watchdog_s = int(os.environ.get("WATCHDOG_USEC", "0") or 0) / 2e6
        """How often to ping the watchdog: half its period (0: no watchdog)."""
        self._out = None
        self._stats_s = 1.0
        self._status = ""

    @property
    def actors(self) -> list[Actor]:
        """The current actor instances, in start order."""
        return [slot.actor for slot in self.slots if slot.actor is not None]

    def start(self, stop: threading.Event | None = None) -> bool:
        """Start the bus, then every actor in order, each ready before the next starts; False
        (and no READY) when `stop` was set meanwhile (SIGINT while models load)."""
        self.bus.start()
        self._out = self.bus.publisher()
        # Each actor may take start_timeout_s; tell systemd before each, so a slow model load
        # that makes progress is not killed by TimeoutStartSec.
        extend_us = int((self.settings.start_timeout_s + 10) * 1e6)
        for number, slot in enumerate(self.slots, 1):
            self._say(f"loading {slot.spec.name} ({number}/{len(self.slots)})", f"EXTEND_TIMEOUT_USEC={extend_us}")
            slot.actor = slot.spec.factory()
            slot.actor.start()
            if not self._wait_ready(slot, stop):
                _LOGGER.info("start cancelled while %s was loading", slot.spec.name)
                return False
        self.notify("READY=1")
        self._say(self._health(self.stale()))
        _LOGGER.info("ready: %s", ", ".join(s.spec.name for s in self.slots))
        self._out.publish(process_stats(ready=True))
        return True

    def run(self, stop: threading.Event) -> int:
        """Supervise until `stop` is set; returns 0, or raises SupervisorFault on a storm or hang."""
        next_watchdog = next_stats = 0.0
        while not stop.wait(_TICK_S):
            now = time.monotonic()
            for slot in self.slots:
                self._watch_cpu(slot, now)
                self._supervise(slot, now)
            # One verdict per tick: a status that says "not responding" is not followed by a ping in the same tick.
            stale = self.stale(now)
            if now >= next_stats:
                self._out.publish(process_stats(ready=True))
                self._say(self._health(stale))
                next_stats = now + self._stats_s
            if self._watchdog_s and now >= next_watchdog and not stale:
                self.notify("WATCHDOG=1")
                next_watchdog = now + self._watchdog_s
        return 0

    def stale(self, now: float | None = None) -> list[str]:
        """Actors whose loop has not turned lately (stuck, or not running): while any is, the
        watchdog is not pinged. An idle loop turns every heartbeat; long work checks in."""
        now = time.monotonic() if now is None else now
        limit = max(2 * self.bus_heartbeat_s, self._watchdog_s)
        return [slot.spec.name for slot in self.slots
                if slot.restart_at is None and slot.actor is not None
                and (not slot.actor.alive or self._quiet_s(slot, now) > limit)]

    def _watch_cpu(self, slot: _Slot, now: float) -> None:
        """Note when the actor's thread last used CPU (looked at only while its loop is silent)."""
        limit = min(self.settings.hang_timeout_s, max(2 * self.bus_heartbeat_s, self._watchdog_s or 0.0))
        if slot.actor is None or now - slot.actor.last_beat < min(_WATCH_AFTER_S, limit / 4):
            slot.cpu_s = None
            return
        cpu = slot.actor.cpu_s
        if cpu is not None and slot.cpu_s is not None and cpu > slot.cpu_s:
            slot.working_at = now
        slot.cpu_s = cpu

    def _quiet_s(self, slot: _Slot, now: float) -> float:
        """Seconds since the actor last showed life: its loop turned, long work checked in, or its
        thread computed. A thread blocked for good (a deadlock, a call that never returns) shows
        none; one inside a long native call starved by a loaded CPU still computes, until it has
        gone _RUNAWAY hang timeouts without checking in."""
        silent = now - slot.actor.last_beat
        if silent > _RUNAWAY * self.settings.hang_timeout_s:
            return silent
        return now - max(slot.actor.last_beat, slot.working_at)

    @property
    def bus_heartbeat_s(self) -> float:
        """The longest heartbeat period of the actors (how often an idle loop turns)."""
        return max((slot.actor.heartbeat_s for slot in self.slots if slot.actor is not None), default=1.0)

    def degraded(self) -> dict[str, str]:
        """Actors that went on with less than asked (name -> fault code), e.g. a stopped recording."""
        return {slot.spec.name: slot.actor.degraded for slot in self.slots
                if slot.actor is not None and slot.actor.degraded}

    def _health(self, stale: list[str]) -> str:
        """One line for `systemctl status`: ready, or what is wrong (`stale`: the tick's own verdict)."""
        troubled = [f"{slot.spec.name} restarting" for slot in self.slots if slot.restart_at is not None]
        troubled += [f"{name} {code}" for name, code in self.degraded().items()]
        troubled += [f"{name} not responding" for name in stale]
        return f"degraded: {', '.join(troubled)}" if troubled else f"ready ({len(self.slots)} actors)"

    def _say(self, status: str, *extra: str) -> None:
        if status != self._status or extra:
            self._status = status
            self.notify("\n".join([f"STATUS={status}", *extra]))

    def stop(self) -> bool:
        """Stop actors in reverse order, then the bus; True when every thread ended in time.
        All are asked at once and share stop_timeout_s, except those with their own budget."""
        self.notify("STOPPING=1\nSTATUS=stopping")
        started = time.monotonic()
        deadline = started + self.settings.stop_timeout_s
        clean = True
        for slot in reversed(self.slots):
            if slot.actor is not None:
                slot.actor.request_stop()
        for slot in reversed(self.slots):
            if slot.actor is not None:
                own = slot.spec.stop_budget_s
                until = started + own if own is not None else deadline
                ended = slot.actor.stop(max(0.05, until - time.monotonic()))
                if not ended:  # only computing (a token, a sentence) is expected under load
                    level = logging.WARNING if slot.actor.abandon_on_stop else logging.ERROR
                    _LOGGER.log(level, "%s did not stop within its stop budget (%.1f s)", slot.spec.name,
                                own if own is not None else self.settings.stop_timeout_s)
                clean &= ended
        if self._out is not None:
            self._out.publish(process_stats(ready=False))
            self._out.close()
            self._out = None
        self.bus.stop()
        return clean

    def _wait_ready(self, slot: _Slot, stop: threading.Event | None = None) -> bool:
        actor = slot.actor
        deadline = time.monotonic() + self.settings.start_timeout_s
        while not actor.ready.wait(_TICK_S):
            if stop is not None and stop.is_set():
                return False
            if actor.finished.is_set():
                if isinstance(actor.error, RuntimeFault):
                    raise actor.error
                raise SupervisorFault("actor-start-failed", f"{slot.spec.name} failed to start: {actor.error}",
                                      "see the log above for the cause")
            if time.monotonic() > deadline:
                raise SupervisorFault("actor-start-timeout",
                                      f"{slot.spec.name} not ready after {self.settings.start_timeout_s:g} s",
                                      "raise [supervisor] start_timeout_s, or check the log for what it waits on")
        return True

    def _supervise(self, slot: _Slot, now: float) -> None:
        actor = slot.actor
        if slot.restart_at is not None:
            if now >= slot.restart_at:
                self._restart(slot, now)
            return
        if actor is None:
            return
        if actor.finished.is_set():
            if actor.error is not None:
                self._failed(slot, now)
            return
        if actor.ready.is_set() and self._quiet_s(slot, now) > self.settings.hang_timeout_s:
            how = "computing without checking in" if slot.working_at > actor.last_beat else "blocked"
            raise SupervisorFault("supervisor-actor-hung",
                                  f"{slot.spec.name} has not turned its loop for {now - actor.last_beat:.0f} s ({how})",
                                  "the process exits so that systemd restarts it; see the log for the stage")

    def _failed(self, slot: _Slot, now: float) -> None:
        cfg = self.settings
        while slot.restarts and now - slot.restarts[0] > cfg.storm_window_s:
            slot.restarts.popleft()
        if len(slot.restarts) >= cfg.storm_max_restarts:
            raise SupervisorFault(
                "supervisor-restart-storm",
                f"{slot.spec.name} failed {len(slot.restarts) + 1} times within {cfg.storm_window_s:g} s",
                "the process exits so that systemd restarts it; see the log for the actor's error")
        delay = min(cfg.restart_backoff_s * 2 ** len(slot.restarts), cfg.restart_backoff_max_s)
        _LOGGER.warning("%s failed (%s); restarting in %.2f s", slot.spec.name, slot.actor.error, delay)
        slot.restarts.append(now)
        slot.restart_at = now + delay
        slot.actor.stop(0.1)

    def _restart(self, slot: _Slot, now: float) -> None:
        slot.restart_at = None
        slot.actor = slot.spec.factory()
        slot.actor.start()
        _LOGGER.info("%s restarted (%d in the last %g s)", slot.spec.name, len(slot.restarts),
                     self.settings.storm_window_s)


def lingering_threads() -> list[str]:
    """Threads other than this one still running (e.g. a decode that cannot be cut short)."""
    return [t.name for t in threading.enumerate() if t is not threading.current_thread() and t.is_alive()]


def exit_now(code: int, why: str = "some actor threads did not stop; exiting without waiting for them") -> None:
    """Leave at once: a thread still inside native code (llama.cpp, an encoder, a decode) would
    crash the interpreter's shutdown, so do as systemd would after its stop timeout."""
    if code:
        _LOGGER.error("%s", why)
    else:
        _LOGGER.info("%s", why)
        # A clean stop still runs the libraries' exit handlers (phonemizer removes the copy of
        # libespeak-ng it made in the temp directory): leaving without them leaks files every run.
        atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
