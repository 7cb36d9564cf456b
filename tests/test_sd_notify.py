"""sd_notify as systemd sees it: a fake NOTIFY_SOCKET (AF_UNIX datagrams) and `edge-talker run`."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

import runtime
from runtime.config import SupervisorConfig
from runtime.core.actor import Actor
from runtime.core.messages import Transcript
from runtime.core.supervisor import ActorSpec, Supervisor
from runtime.core.systemd import sd_notify

ECHO = Path(runtime.__file__).resolve().parent.parent / "config" / "examples" / "echo-console.toml"


class NotifySocket:
    """What systemd's notify socket would receive; datagrams hold newline-separated KEY=value."""

    def __init__(self) -> None:
        # Not tmp_path: an AF_UNIX path must fit in 108 bytes and pytest's paths can be longer.
        self.folder = tempfile.mkdtemp(prefix="sdnotify-")
        self.path = os.path.join(self.folder, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.seen: list[str] = []  # every line consumed so far, in order
        self._pending: list[str] = []  # lines received but not consumed yet

    def expect(self, key: str, timeout_s: float = 30.0) -> str:
        """The value of the next `key=` line; the lines before it are skipped (kept in seen)."""
        deadline = time.monotonic() + timeout_s
        while True:
            while self._pending:
                line = self._pending.pop(0)
                self.seen.append(line)
                name, _, value = line.partition("=")
                if name == key:
                    return value
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {key}= within {timeout_s} s; got {self.seen}")
            self.sock.settimeout(left)
            try:
                self._pending = self.sock.recv(4096).decode().splitlines()
            except TimeoutError:
                continue

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self.folder)


@pytest.fixture
def notify(monkeypatch):
    fake = NotifySocket()
    monkeypatch.setenv("NOTIFY_SOCKET", fake.path)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")  # as WatchdogSec=1s: a ping every 0.5 s
    yield fake
    fake.close()


def start_product() -> subprocess.Popen:
    """`edge-talker run` with no models, inheriting NOTIFY_SOCKET and WATCHDOG_USEC."""
    return subprocess.Popen([sys.executable, "-m", "runtime", "run", "--config", str(ECHO)],
                            env={**os.environ, "SDL_VIDEODRIVER": "dummy", "EDGE_TALKER_STATE": tempfile.mkdtemp()},
                            stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def test_sd_notify_reaches_the_socket_and_never_raises(notify, monkeypatch):
    assert sd_notify("STATUS=loading models (2/5)\nEXTEND_TIMEOUT_USEC=60000000")
    assert notify.expect("STATUS") == "loading models (2/5)"
    assert notify.expect("EXTEND_TIMEOUT_USEC") == "60000000"
    monkeypatch.setenv("NOTIFY_SOCKET", notify.folder + "/gone")  # the manager went away
    assert sd_notify("WATCHDOG=1") is False
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert sd_notify("READY=1") is False


def test_product_reports_loading_then_ready_pings_the_watchdog_and_says_stopping(notify):
    product = start_product()
    try:
        assert notify.expect("READY", timeout_s=120) == "1"
        before_ready = notify.seen[:-1]
        loading = [line for line in before_ready if line.startswith("STATUS=loading ")]
        assert loading and loading[-1].startswith("STATUS=loading capture"), before_ready  # the last actor
        extends = [int(line.split("=")[1]) for line in before_ready if line.startswith("EXTEND_TIMEOUT_USEC=")]
        assert extends and min(extends) >= 10_000_000, "each extension outlasts a slow model load"
        assert notify.expect("STATUS").startswith("ready")
        assert notify.expect("WATCHDOG", timeout_s=5) == "1"
        assert notify.expect("WATCHDOG", timeout_s=5) == "1"
        product.send_signal(signal.SIGTERM)  # what `systemctl stop` sends
        assert notify.expect("STOPPING", timeout_s=10) == "1"
        assert product.wait(timeout=30) == 0, product.stderr.read()
    finally:
        if product.poll() is None:
            product.kill()


class Blocking(Actor):
    """An actor whose loop stops turning when told to (a driver call that never returns)."""

    subscriptions = (Transcript,)

    def __init__(self, name, bus, release: threading.Event) -> None:
        super().__init__(name, bus, heartbeat_s=0.2)
        self.release = release

    def handle(self, msg) -> None:
        self.release.wait(60)


def test_a_stuck_actor_stops_the_watchdog_pings_so_systemd_restarts_the_process(notify, bus):
    release = threading.Event()
    specs = [ActorSpec("stuck", lambda: Blocking("stuck", bus, release)),
             ActorSpec("fine", lambda: Actor("fine", bus, heartbeat_s=0.2))]
    supervisor = Supervisor(bus, specs, SupervisorConfig(hang_timeout_s=300))
    period_s = 1.0  # WATCHDOG_USEC from the fixture: pings every 0.5 s while healthy
    supervisor.start()
    stop = threading.Event()
    runner = threading.Thread(target=supervisor.run, args=(stop,), daemon=True)
    runner.start()
    pub = bus.publisher()
    try:
        assert notify.expect("READY") == "1"
        assert notify.expect("WATCHDOG", timeout_s=3) == "1"  # positive control: healthy, pinged
        assert notify.expect("WATCHDOG", timeout_s=3) == "1"
        pub.publish(Transcript(text="this blocks the stuck actor"))
        assert notify.expect("STATUS", timeout_s=10) == "degraded: stuck not responding"
        started = time.monotonic()
        with pytest.raises(AssertionError, match="no WATCHDOG="):
            notify.expect("WATCHDOG", timeout_s=2 * period_s)
        assert time.monotonic() - started >= 2 * period_s
        release.set()  # it comes back: pings resume
        assert notify.expect("WATCHDOG", timeout_s=5) == "1"
    finally:
        release.set()
        pub.close()
        stop.set()
        runner.join(5)
        supervisor.stop()


class Computing(Actor):
    """An actor inside one long computation that does not check in (a model reading a long
    prompt on a starved CPU), for as long as the visitor's transcript says."""

    subscriptions = (Transcript,)

    def __init__(self, name, bus, finished: threading.Event) -> None:
        super().__init__(name, bus, heartbeat_s=0.2)
        self.finished_work = finished

    def handle(self, msg) -> None:
        until = time.monotonic() + float(msg.text)
        while time.monotonic() < until:
            sum(range(2000))  # uses the CPU, never checks in
        self.finished_work.set()


@pytest.mark.parametrize(("seconds", "hung"), [(3.0, False), (7.0, True)])
def test_long_computation_is_alive_but_a_runaway_one_is_hung(notify, bus, seconds, hung):
    """hang_timeout_s 0.5: a blocked actor would be hung after 0.5 s (the test above); one that
    computes is alive, until it has gone 10 hang timeouts (5 s) without checking in."""
    done = threading.Event()
    specs = [ActorSpec("model", lambda: Computing("model", bus, done))]
    supervisor = Supervisor(bus, specs, SupervisorConfig(hang_timeout_s=0.5))
    supervisor.start()
    outcome: list[BaseException | None] = []

    def supervise() -> None:
        try:
            outcome.append(supervisor.run(stop))
        except Exception as err:  # noqa: BLE001 - what the supervisor raised is the result
            outcome.append(err)

    stop = threading.Event()
    runner = threading.Thread(target=supervise, daemon=True)
    runner.start()
    pub = bus.publisher()
    try:
        assert notify.expect("READY") == "1"
        pub.publish(Transcript(text=str(seconds)))
        pings = 0
        while not done.is_set() and runner.is_alive():
            try:
                notify.expect("WATCHDOG", timeout_s=0.5)
                pings += 1
            except AssertionError:
                pass
        if not hung:
            stop.set()
        runner.join(5)
        if hung:
            assert outcome and getattr(outcome[0], "code", None) == "supervisor-actor-hung", outcome
            assert "computing without checking in" in str(outcome[0])
        else:
            assert outcome == [0], outcome
            assert pings >= 4, "the watchdog went on being pinged while the actor computed"
            assert not any(line == "STATUS=degraded: model not responding" for line in notify.seen), notify.seen
    finally:
        done.set()
        stop.set()
        pub.close()
        supervisor.stop()
