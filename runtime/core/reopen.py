"""The reopen loop of an actor's device (a speaker, a microphone): a device that goes away is
reported once (the actor is degraded with the fault's code, the rest of the product goes on) and
tried again every `retry_s` until it is back."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from runtime.core.errors import RuntimeFault


class Reopener:
    """Keeps one device of an actor; the actor's tick() reports a loss and asks for retries."""

    def __init__(self, actor, what: str, log: logging.Logger) -> None:
        self.actor = actor
        """Its degrade() / recover() report the device; its `retry_s` (seconds) paces the retries."""
        self.what = what
        """The device as the log names it ("speaker", "microphone")."""
        self.log = log
        self.away = False
        self._retry_at = 0.0

    def lost(self, fault: RuntimeFault, why: str) -> None:
        """The device went away (the actor has closed it): degrade, log once, retry in retry_s."""
        self.away = True
        self._retry_at = time.monotonic() + self.actor.retry_s
        self.actor.degrade(fault)
        self.log.warning("%s: %s", fault.code, why)

    def retry(self, reopen: Callable[[], str | None]) -> None:
        """When a retry is due, reopen() the device: its name when it is back, None (or a fault)
        when it is still away."""
        now = time.monotonic()
        if not self.away or now < self._retry_at:
            return
        self._retry_at = now + self.actor.retry_s
        try:
            name = reopen()
        except RuntimeFault as fault:
            self.log.debug("%s still away: %s", self.what, fault.code)
            return
        if name is None:
            return
        self.away = False
        self.actor.recover()
        self.log.warning("the %s is back: %s", self.what, name)
