"""The safety net of operators' changes (A/B, as balena and Greengrass deployments do): a document
that restarts the kiosk is on trial until the kiosk is healthy with it (every actor ready, the
fleet link connected when there is one). Not healthy within the deadline, or a start that fails
with it: the last good document is put back by the kiosk itself, the process restarts, and the
fleet hears `config-rolled-back` (state and events)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace

from runtime.control import desired

_LOGGER = logging.getLogger(__name__)


class Trial:
    """Confirms or rolls back the applied document of one process start."""

    def __init__(self, device, deadline_s: float, *, needs_link: bool, on_rollback: Callable[[], None],
                 link_problem: Callable[[], str] = lambda: "") -> None:
        self.device = device
        self.deadline_s = deadline_s
        self.needs_link = needs_link
        self.on_rollback = on_rollback
        self.link_problem = link_problem
        self._ready = False
        self._linked = False
        self._timer: threading.Timer | None = None

    @property
    def active(self) -> bool:
        """The applied document is on trial."""
        return self.device.applied.trial

    def start(self) -> None:
        """Start the deadline (nothing to do when the document is not on trial)."""
        if self.active:
            _LOGGER.warning("applied config %r on trial: it must be healthy within %g s or it is rolled back",
                            self.device.applied.version, self.deadline_s)
            self._timer = threading.Timer(self.deadline_s, self._expired)
            self._timer.daemon = True
            self._timer.start()

    def stop(self) -> None:
        """Cancel the deadline (the process is stopping)."""
        if self._timer is not None:
            self._timer.cancel()

    def release(self) -> None:
        """The process stops on request (or restarts) before the verdict: the next start gets a
        fresh trial rather than counting this one as failed."""
        self.stop()
        with self.device.lock:
            applied = self.device.applied
            if applied.trial and applied.starts:
                self.device.applied = replace(applied, starts=0)
                self.device.applied_store.save(self.device.applied)

    def actors_ready(self) -> None:
        """Every actor started."""
        self._ready = True
        self._check()

    def link_up(self) -> None:
        """The fleet link connected to the broker."""
        self._linked = True
        self._check()

    def _check(self) -> None:
        device = self.device
        with device.lock:
            if self.active and self._ready and (self._linked or not self.needs_link):
                self.stop()
                device.applied = device.applied_store.confirm(device.applied)

    def _expired(self) -> None:
        missing = [] if self._ready else ["not every actor became ready"]
        if self.needs_link and not self._linked:
            missing.append("the fleet link did not connect" + (f" ({p})" if (p := self.link_problem()) else ""))
        if self.failed(f"not healthy within {self.deadline_s:g} s: {'; '.join(missing) or 'unknown'}"):
            self.on_rollback()

    def failed(self, reason: str, *, at_start: bool = False) -> bool:
        """The process fails with the applied document: roll back when it is on trial, or (a
        failed start) whenever there is one. True when something was rolled back."""
        device = self.device
        with device.lock:
            applied = device.applied
            if not (applied.trial or (at_start and applied.overlay)):
                return False
            self.stop()
            device.applied = device.applied_store.roll_back(applied, reason)
            return True


def rolled_back_event(applied: desired.Applied) -> dict:
    """The fleet event that says the kiosk rolled a document back by itself."""
    return {"type": "config-rolled-back", **applied.rolled_back, "now": applied.version}
