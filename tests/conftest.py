"""Shared fixtures: a private ZeroMQ context and bus per test, and a timeout-wrapped receive."""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import zmq

from runtime.core.bus import Bus, receive
from runtime.core.messages import Message

REPO = Path(__file__).resolve().parent.parent
_ids = itertools.count()


def require_tool(program: str, package: str) -> str:
    """The path of a program a test needs; the test FAILS (never skips) when it is missing, naming
    the Debian package. Always, not only in CI: `make test` (the one test command, CI's too)
    installs these packages, so a missing one is a broken setup, and a skip would let a run pass
    that never tested the broker, the console, the privacy trace or the service."""
    found = shutil.which(program) or (program if os.access(program, os.X_OK) else None)
    if found is None:
        pytest.fail(f"{program} is not installed: apt-get install {package} (`make test` installs it as root)",
                    pytrace=False)
    return found


def pytest_configure(config) -> None:
    """Tests never use the machine's own state directory: an EdgeTalker running there (the
    product allows one per state directory) must not make them fail, nor they change it."""
    if "EDGE_TALKER_STATE" not in os.environ:
        import tempfile

        os.environ["EDGE_TALKER_STATE"] = tempfile.mkdtemp(prefix="edge-talker-test-state-")


def wait_for(predicate, timeout_s: float = 5.0, interval_s: float = 0.01):
    """Poll predicate until it returns something true (returned) or the timeout passes (its last value)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    return predicate()


def recv_within(sock: zmq.Socket, timeout_s: float = 5.0) -> Message:
    """Receive one message or fail the test after timeout_s."""
    if not sock.poll(int(timeout_s * 1000)):
        raise AssertionError(f"no message within {timeout_s} s")
    return receive(sock)


def term_within(ctx: zmq.Context, timeout_s: float = 3.0) -> bool:
    """Terminate a context; False when it hangs because some socket was left open."""
    done = threading.Event()
    thread = threading.Thread(target=lambda: (ctx.term(), done.set()), daemon=True)
    thread.start()
    return done.wait(timeout_s)


@pytest.fixture
def ctx():
    """A private context; the test fails if any socket is left open at the end."""
    context = zmq.Context()
    yield context
    assert term_within(context), "sockets left open: the context did not terminate"


@pytest.fixture
def bus(ctx):
    """A started bus on private inproc endpoints."""
    n = next(_ids)
    the_bus = Bus(f"inproc://test-pub-{n}", f"inproc://test-sub-{n}", context=ctx)
    the_bus.start()
    yield the_bus
    the_bus.stop()


def run_cli(*args: str, env: dict | None = None, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """Run `python -m runtime ARGS` and capture its output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "runtime", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=REPO, check=False, **kwargs)


@pytest.fixture(scope="session")
def default_avatar(tmp_path_factory) -> Path:
    """The default avatar, enrolled once per test run; copy it into a device's state with seed_state."""
    from runtime.config import PathsConfig, Settings
    from runtime.face import avatars

    state = tmp_path_factory.mktemp("avatar-seed")
    avatars.load_avatar(Settings(paths=PathsConfig(state=str(state))))
    return state / "avatars"


def seed_state(folder: Path, default_avatar: Path) -> Path:
    """A device state directory that already holds the default avatar (no enrollment at start)."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(default_avatar, folder / "avatars", dirs_exist_ok=True)
    return folder


FACE_PORTRAITS = ["man_darkskin_smile_teeth.jpg", "man_beard_smile_teeth_turned20_tilted.jpg",
                  "woman_sunglasses_smile_small_face.jpg", "woman_older_glasses_neutral.jpg",
                  "man_older_turned15.jpg", "two_people_bar_flash.jpg"]
"""The portraits of tests/data/portraits the face is judged on."""


@pytest.fixture(scope="session")
def face_models():
    """The face detector and mesh, loaded once per test run."""
    from runtime.config import Settings
    from runtime.face import avatars

    return avatars.face_models(Settings())


@pytest.fixture(scope="session")
def portrait_faces(face_models) -> dict:
    """A renderer per test portrait, enrolled once per test run."""
    from runtime.face import avatars
    from runtime.face.bundle import Avatar
    from runtime.face.enroll import enroll

    made = {}
    for name in FACE_PORTRAITS:
        enrolled = enroll(Path(__file__).parent / "data" / "portraits" / name, face_models)
        made[name] = avatars.renderer(Avatar(name, enrolled.portrait, enrolled.landmarks, enrolled.meta))
    return made


@pytest.fixture(scope="session")
def default_face(face_models):
    """The bundled default avatar (a smile with teeth), as `make run` shows it."""
    from runtime.face import avatars
    from runtime.face.bundle import Avatar
    from runtime.face.enroll import enroll
    from tests.test_face import PORTRAIT

    enrolled = enroll(PORTRAIT, face_models)
    return avatars.renderer(Avatar("default", enrolled.portrait, enrolled.landmarks, enrolled.meta))


def luma(rgb: np.ndarray) -> np.ndarray:
    """Luminance (BT.601) of RGB pixels."""
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """A Mosquitto broker of our own (one per test module that asks for it)."""
    from tests.broker import Broker

    the_broker = Broker(tmp_path_factory.mktemp("broker")).start()
    yield the_broker
    the_broker.stop()


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (one per test module; each test opens its pages)."""
    from playwright import sync_api as playwright_api  # a test requirement (setup.cfg [test])

    require_tool(CHROMIUM, "chromium")
    with playwright_api.sync_playwright() as playwright:
        the_browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                 args=["--no-sandbox", "--disable-gpu", "--autoplay-policy="
                                                       "no-user-gesture-required"])
        yield the_browser
        the_browser.close()
