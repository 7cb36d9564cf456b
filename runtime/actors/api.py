"""api actor: the REST API and the web console on the device (runtime.control.http), served by
uvicorn in its own thread so HTTP never blocks the conversation.

HTTP handlers hand each operation to this actor's loop (a bounded inbox, Actor.inbox) and
await its result, so commands run one at a time here, through the same command layer as the
MQTT link, with this actor's bus publisher. The actor also folds the bus into the device state,
streams it and the events to Server-Sent Events clients, and JPEG-encodes the face's preview
frames while someone watches /live.mjpeg.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from runtime.actors.control import ControlActor
from runtime.config import ApiConfig, is_loopback
from runtime.control.hub import Hub
from runtime.control.state import SUBSCRIPTIONS, StatePush
from runtime.core.errors import ApiFault, ControlFault, RuntimeFault
from runtime.core.messages import Message, VideoFrame
from runtime.core.threads import Inbox

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")
_JOBS_MAX = 32
_STATE_EVERY_S = 5.0
_START_TIMEOUT_S = 10.0


def api_token(cfg: ApiConfig) -> str | None:
    """The bearer token from the environment variable [api] token_env names; None when no token is
    configured on a loopback address. Off loopback a token is required (api-token-missing)."""
    value = os.environ.get(cfg.token_env, "") if cfg.token_env else ""
    if value:
        return value
    if cfg.token_env or not is_loopback(cfg.host):
        raise ApiFault("api-token-missing", f"the API on {cfg.host} needs a bearer token, and "
                       f"${cfg.token_env or '<token_env>'} is empty",
                       "set [api] token_env to a variable holding a long random token (systemd: an EnvironmentFile), "
                       "or listen on 127.0.0.1")
    return None


class ApiActor(ControlActor):
    """Serves the REST API, its event stream and the live face; runs their commands."""

    subscriptions = (*SUBSCRIPTIONS, VideoFrame)
    tick_interval_s = 0.25

    def __init__(self, name: str, bus, *, device, **kwargs) -> None:
        super().__init__(name, bus, device=device, **kwargs)
        self.hub = Hub()
        self.port = 0
        """The TCP port the API listens on (known once ready; [api] port may be 0)."""
        self._jobs: Inbox[tuple[Callable, concurrent.futures.Future]] | None = None
        self._server = self._thread = None
        self._frame_at = 0.0
        self._push = StatePush()

    @property
    def share(self) -> bool:
        """[api] captions, as in force now."""
        return self.device.settings.api.captions

    def setup(self) -> None:
        """Start uvicorn on the configured address; api-bind-failed when it cannot listen."""
        import uvicorn

        from runtime.control.http import create_app

        cfg = self.device.settings.api
        self._jobs = self.inbox(self._run_job, _JOBS_MAX)
        app = create_app(self, token=api_token(cfg), max_upload_bytes=int(cfg.max_upload_mb * 2**20))
        config = uvicorn.Config(app, host=cfg.host, port=cfg.port, log_level="warning", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=1, server_header=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="api-http", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ApiFault("api-bind-failed", f"cannot listen on {cfg.host}:{cfg.port}",
                               "another program may use the port: pick another [api] port (0 = any free one)")
            time.sleep(0.02)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        _LOGGER.info("api: listening on http://%s:%d/", cfg.host, self.port)

    def teardown(self) -> None:
        """End the streams, stop the server, fail what is still queued."""
        self.hub.close()
        if self._server is not None:
            self._server.should_exit = True
            self._thread.join(1.0)
        for _, future in self._jobs.take_all() if self._jobs is not None else ():
            future.set_exception(ApiFault("api-stopping", "the device is stopping", "retry once it is back"))

    # --- from uvicorn's thread ------------------------------------------------------------------

    async def call(self, job: Callable[[ApiActor], T]) -> T:
        """Run job(actor) in the actor's thread and return its result (or raise its fault)."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        if not self._jobs.put((job, future)):
            raise ControlFault("command-busy", "too many requests are waiting", "retry in a few seconds")
        return await asyncio.wrap_future(future)

    # --- the actor's thread -----------------------------------------------------------------------

    def _run_job(self, item: tuple[Callable[[ApiActor], Any], concurrent.futures.Future]) -> None:
        job, future = item
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(job(self))
            self._push.dirty = True
        except RuntimeFault as fault:  # the HTTP handler answers with it
            future.set_exception(fault)
        except Exception as err:  # a bug must not cost the client its answer, nor the actor its life
            _LOGGER.exception("api: request failed")
            future.set_exception(ControlFault("command-failed", f"{type(err).__name__}: {err}",
                                              "see the device's log"))

    def handle(self, msg: Message) -> None:
        """Preview frames to the watchers; everything else into the state."""
        if isinstance(msg, VideoFrame):
            self._frame(msg)
        else:
            super().handle(msg)

    def observed(self, msg: Message, events: list[dict[str, Any]]) -> None:
        """Events to the SSE clients; a change of health or settings refreshes their state."""
        for event in events:
            self.hub.publish("events", event)
        self._push.note(msg, events)

    def tick(self) -> None:
        """Send the state to the SSE clients when it changed (at most every second) and every 5 s."""
        if not self.hub.wants("events"):
            return
        if self._push.due(_STATE_EVERY_S):
            self._push.sent()
            self.hub.publish("events", {"type": "state", **self.state()})

    def _frame(self, msg: VideoFrame) -> None:
        """Encode a frame for the watchers, at most [api] preview_fps times a second."""
        if not self.hub.wants("frames"):
            return
        now = time.monotonic()
        if now - self._frame_at < 0.9 / self.device.settings.api.preview_fps:
            return
        import cv2

        self._frame_at = now
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(msg.rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
        if ok:
            self.hub.publish("frames", jpeg.tobytes())
