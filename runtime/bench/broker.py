"""A private Mosquitto broker for benchmarks and tests: a free loopback port, no persistence, its
log in a file beside its config. Started in the foreground and stopped by its pid."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from runtime.core.errors import RuntimeFault

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def end(proc: subprocess.Popen, timeout_s: float = 5) -> None:
    """Stop a process a benchmark started: asked to end, killed if it does not within timeout_s."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout_s)


class Mosquitto:
    """`mosquitto -c conf`; restartable on the same port. `extra` is appended to the config
    (default: anonymous clients allowed)."""

    def __init__(self, folder: Path, *, extra: str = "", port: int | None = None) -> None:
        self.folder, self.port = folder, port or free_port()
        self.conf = folder / "mosquitto.conf"
        # As root, mosquitto switches to its own user and could not read private files.
        user = "user root\n" if os.geteuid() == 0 else ""
        self.conf.write_text(f"{user}listener {self.port} 127.0.0.1\npersistence false\nlog_dest stderr\n"
                             f"log_type all\n{extra or 'allow_anonymous true'}\n")
        self.proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 10) -> Mosquitto:
        """Start and wait until it accepts connections."""
        if not Path(MOSQUITTO).exists():
            raise RuntimeFault("bench-broker-missing", "the mosquitto broker is not installed",
                               "apt-get install mosquitto mosquitto-clients")
        with open(self.folder / "mosquitto.log", "ab") as log:  # the broker keeps its own copy open
            self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeFault("bench-broker-failed", f"mosquitto did not start:\n{self.log()[-2000:]}",
                           "see the broker's log above")

    def stop(self) -> None:
        """Stop it."""
        if self.proc is not None:
            end(self.proc)
        self.proc = None

    def log(self) -> str:
        """What the broker logged."""
        path = self.folder / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""
