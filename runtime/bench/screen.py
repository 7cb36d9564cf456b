"""The screen a benchmark's product draws on: the attached display, or a virtual X server (Xvfb)
on a headless machine, so the face is drawn and shown as a kiosk shows it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from runtime.bench.broker import end
from runtime.hardware.display import display_available

X_SOCKETS = Path("/tmp/.X11-unix")  # noqa: S108 - where every X server puts its socket
"""X servers' sockets, one per display number (X90 for :90)."""


@contextlib.contextmanager
def kiosk_screen() -> Iterator[tuple[dict[str, str], bool, str]]:
    """(environment for the product, whether it has a window, what it draws on). A display already
    there is used as it is; without one, Xvfb is started for the run and stopped after it; without
    either the window is off, and the description says so."""
    if display_available():
        shown = os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or "SDL's own driver"
        yield {}, True, f"the attached display ({shown})"
        return
    if not shutil.which("Xvfb"):
        yield {}, False, "no display and no Xvfb (apt-get install xvfb): the face is drawn, not shown"
        return
    number = next(n for n in range(90, 190)  # a display number no X server has (socket) or had (lock file)
                  if not (X_SOCKETS / f"X{n}").exists() and not (X_SOCKETS.parent / f".X{n}-lock").exists())
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not (X_SOCKETS / f"X{number}").exists():  # it takes clients once its socket exists
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Xvfb :{number} did not start (exit {server.poll()})")
            time.sleep(0.05)
        yield {"DISPLAY": f":{number}"}, True, f"a window on a virtual display (Xvfb :{number})"
    finally:
        end(server)
