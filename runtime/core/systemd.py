"""The service manager's side of the process: sd_notify and whether we run as a service."""

from __future__ import annotations

import logging
import os
import socket

_LOGGER = logging.getLogger(__name__)


def under_systemd() -> bool:
    """True when systemd started this process (as a service; its output goes to the journal)."""
    return bool(os.environ.get("INVOCATION_ID") or os.environ.get("JOURNAL_STREAM"))


def sd_notify(state: str) -> bool:
    """Send state lines to systemd when running as a notify service; a no-op otherwise.

    Never raises: a missing or refused socket (the manager went away, a test's stale variable)
    must not take the kiosk down. Returns True when the lines were sent."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
        return True
    except OSError as err:
        _LOGGER.debug("sd_notify(%s) not delivered: %s", state.split("\n")[0], err)
        return False
