"""The product's actors running in the test process with its control plane (fleet link and/or
REST API), the speaker faked at the hardware edge, and a recorder on the bus. Used by the fleet,
API and console tests; every wait has a timeout."""

from __future__ import annotations

import http.client
import json
import os
import time
import uuid
from pathlib import Path

import numpy as np
import zmq

from runtime import product
from runtime.actors.play import PlayActor
from runtime.config import parse_config
from runtime.core.bus import Bus
from runtime.core.messages import PlaybackFinished, PlaybackStarted, ReplyChunk, SpeechAudio
from runtime.core.supervisor import ActorSpec
from runtime.hardware.sound import SilentOutput
from tests.conftest import seed_state, term_within, wait_for
from tests.harness import Running

BASE = """
[capture]
type = "console"
[think]
type = "echo"
[play]
device = "none"
[display]
window = "off"
fps = 10
[caption]
enabled = false
[paths]
state = "{state}"
"""


TOKEN = uuid.uuid4().hex
"""The bearer token of the API kiosks of this test run."""
TOKEN_ENV = "EDGE_TALKER_TEST_API_TOKEN"
API = """
[api]
enabled = true
port = 0
token_env = "{env}"
bench_dir = "{bench}"
max_upload_mb = 10
captions = {captions}
"""


class PeakSpeaker(SilentOutput):
    """The speaker at the hardware edge: keeps the loudest sample of every block it played."""

    def __init__(self, fill) -> None:
        self.peaks: list[tuple[int, float]] = []

        def keep(out, delay_s):
            fill(out, delay_s)
            self.peaks.append((time.monotonic_ns(), float(np.abs(out).max()) if len(out) else 0.0))
            del self.peaks[:-3000]  # one minute of blocks is plenty

        super().__init__(None, keep)


class Kiosk:
    """A running product; `extra` is config text added after the base (e.g. [remote], [api])."""

    def __init__(self, folder: Path, default_avatar: Path, extra: str, *, camera_factory=None,
                 base: str = BASE) -> None:
        self.state_dir = seed_state(folder / "state", default_avatar)
        settings = parse_config(base.format(state=self.state_dir) + extra)
        self.context = zmq.Context()
        self.bus = Bus(f"inproc://kiosk-pub-{id(self)}", f"inproc://kiosk-sub-{id(self)}", context=self.context)
        self.restarts: list[int] = []
        settings, self.device = product.control_device(settings, on_restart=lambda: self.restarts.append(1))
        read_fd, self._write_fd = os.pipe()
        self._stdin = os.fdopen(read_fd, "rb")
        self.speakers: list[PeakSpeaker] = []
        device, bus = self.device, self.bus

        def speaker(fill):
            self.speakers.append(PeakSpeaker(fill))
            return self.speakers[-1]

        edges = {"play": ActorSpec("play", lambda: PlayActor("play", bus, output_factory=speaker,
                                                             volume=device.settings.play.volume,
                                                             mute=device.settings.play.mute))}
        if camera_factory is not None:  # the camera at the hardware edge (a video file on a test's clock)
            edges["presence"] = product.presence_spec(settings, bus, camera_factory)
        specs = [edges.get(spec.name, spec) for spec in product.build_specs(settings, bus, stdin=self._stdin,
                                                                              device=device)]
        self.bus.start()
        self.running = Running(self.bus, specs, frames=False)  # the face's frames are not recorded
        self.rec = self.running.__enter__()
        self.supervisor = self.running.supervisor

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop everything; fails when a socket was left open."""
        self.running.__exit__(None, None, None)
        self.bus.stop()
        self._stdin.close()
        os.close(self._write_fd)
        assert term_within(self.context), "sockets left open"

    def actor(self, name: str):
        """The running actor instance of that name."""
        return next(a for a in self.supervisor.actors if a.name == name)

    def type(self, line: str) -> None:
        """The visitor types a line (console input)."""
        os.write(self._write_fd, (line + "\n").encode())

    def said_turn(self, turn: int, timeout_s: float = 30) -> list[ReplyChunk]:
        """Wait until the answer of a turn was played to its end; its chunks."""
        assert self.rec.wait_for(lambda r: any(m.turn == turn and not m.interrupted for m in r.of(PlaybackFinished))
                                 and any(m.turn == turn and m.last for m in r.of(SpeechAudio)), timeout_s)
        return [m for m in self.rec.of(ReplyChunk) if m.turn == turn]

    def peak_of_turn(self, turn: int) -> float:
        """The loudest sample the speaker played while that turn's answer was heard."""
        self.said_turn(turn)
        started = min(m.heard_ns for m in self.rec.of(PlaybackStarted) if m.turn == turn)
        ended = max(m.heard_ns for m in self.rec.of(PlaybackFinished) if m.turn == turn)
        blocks = [p for t, p in self.speakers[-1].peaks if started - 100_000_000 <= t <= ended]
        assert blocks, "the speaker played nothing in that turn"
        return max(blocks)


class Reply:
    """An HTTP response: status, headers, body (JSON decoded when it is JSON)."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.status, self.headers = response.status, response.headers
        raw = response.read()
        self.raw = raw
        self.json = json.loads(raw) if raw and "json" in (response.headers.get("content-type") or "") else None

    @property
    def code(self) -> str | None:
        """The error code, for error replies."""
        return (self.json or {}).get("error", {}).get("code")


class ApiKiosk(Kiosk):
    """The in-process kiosk with its REST API on a free loopback port (bearer token TOKEN)."""

    def __init__(self, folder, default_avatar, *, captions: bool = False, extra: str = "",
                 camera_factory=None, base: str = BASE) -> None:
        self.bench = folder / "bench"
        os.environ[TOKEN_ENV] = TOKEN
        super().__init__(folder, default_avatar, API.format(env=TOKEN_ENV, bench=self.bench,
                                                            captions=str(captions).lower()) + extra,
                         camera_factory=camera_factory, base=base)
        self.port = self.actor("api").port
        self.url = f"http://127.0.0.1:{self.port}"
        assert wait_for(lambda: self.http("GET", "/state").json["health"]["actors"].get("capture"), 30)

    def http(self, method: str, path: str, body=None, *, token: str | None = TOKEN, headers: dict | None = None,
             timeout_s: float = 60) -> Reply:
        """One request on a fresh connection."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout_s)
        head = dict(headers or {})
        if token is not None:
            head.setdefault("Authorization", f"Bearer {token}")
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
            head.setdefault("Content-Type", "application/json")
        try:
            conn.request(method, path, body=body, headers=head)
            return Reply(conn.getresponse())
        finally:
            conn.close()


DESKTOP, PHONE = {"width": 1280, "height": 900}, {"width": 390, "height": 844}
"""Viewports of the console tests."""


def open_console(browser, kiosk, viewport=DESKTOP, lang="en"):
    """A new browser page on the console, logged in with the token (the console asks for it)."""
    page = browser.new_page(viewport=viewport, locale="zh-CN" if lang == "zh" else "en-US")
    page.goto(kiosk.url + "/#status")
    page.wait_for_selector("#login[open]", timeout=20_000)  # the device needs its token
    page.fill("#login-token", "wrong")
    page.click("#login button")
    page.wait_for_selector("#login-message.bad", timeout=10_000)
    page.fill("#login-token", TOKEN)
    page.click("#login button")
    page.wait_for_selector("#login", state="hidden", timeout=10_000)
    page.wait_for_selector("#health-summary.ok", timeout=30_000)
    return page


def go(page, name: str) -> None:
    """Open a page of the console (by its tab's hash) and wait until it shows."""
    page.evaluate(f"location.hash = '#{name}'")
    page.wait_for_selector(f"#page-{name}.active", timeout=10_000)
