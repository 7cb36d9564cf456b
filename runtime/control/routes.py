"""The REST API's routes, added to the app per area (state, personas, avatars, voices, config,
bench, acting, streams, the console), behind a narrow bridge to the api actor: `call` (a command-layer
method run in the actor's thread), `events` (its stream hub) and `restart` (after a response).
The handlers only read and write HTTP; runtime.control.http assembles them into the app."""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any, TypeVar

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.background import BackgroundTask

from runtime.config import Persona
from runtime.control import requests as bodies
from runtime.control.commands import Commands, validate
from runtime.control.uploads import read_json, read_photo_form
from runtime.core.errors import ApiFault, ControlFault

T = TypeVar("T")
COOKIE = "edge_talker_token"
"""The console keeps the token in this cookie (HttpOnly, SameSite=Strict): EventSource and <img>
cannot send an Authorization header."""
MJPEG = "multipart/x-mixed-replace; boundary=frame"
_NO_STORE = {"Cache-Control": "no-store"}


class Bridge:
    """The api actor as the routes see it (None: an app that only serves its OpenAPI document)."""

    def __init__(self, actor) -> None:
        self._actor = actor

    async def call(self, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Commands.method(*args, **kwargs), run in the actor's thread (e.g. `call(Commands.status)`)."""
        return await self._actor.call(lambda actor: method(actor.commands, *args, **kwargs))

    async def run(self, name: str, payload: Any) -> Any:
        """A command by name with a JSON body (as MQTT runs it)."""
        return await self.call(Commands.run, name, payload)

    async def state(self) -> dict:
        """The device state as this actor shares it (captions only when [api] captions is on)."""
        return await self._actor.call(lambda actor: actor.state())

    @property
    def events(self):
        """The hub that streams events and preview frames to HTTP clients."""
        return self._actor.hub

    def restart(self) -> BackgroundTask:
        """Restart the process, if the change asked for it, once the response is sent."""
        return BackgroundTask(self._actor.device.restart_if_pending)

    async def command(self, name: str, request: Request) -> Any:
        """Run a command with the request's JSON body (no body: no arguments)."""
        payload = await read_json(request)
        if payload is None:  # no body means no arguments; a JSON null is not an object
            raise ApiFault("command-invalid", "bad request: body: null is not an object", "send {} or no body")
        return await self.run(name, payload)


def _get(app: FastAPI) -> Callable:
    """app.get that also answers HEAD (the headers GET would send, no body)."""
    return lambda path: app.api_route(path, methods=["GET", "HEAD"])


def add_state_routes(app: FastAPI, bridge: Bridge) -> None:
    """What the device is doing: GET /status, /state and the latest benchmark's numbers and timeline."""
    get = _get(app)

    @get("/status")
    async def status():
        return await bridge.call(Commands.status)

    @get("/state")
    async def state():
        return await bridge.state()

    @get("/bench/latest")
    async def bench_latest():
        return await bridge.call(Commands.bench_latest)

    @get("/bench/latest/timeline.png")
    async def bench_timeline():
        return FileResponse(await bridge.call(Commands.bench_file, "timeline.png"), media_type="image/png")


def add_persona_routes(app: FastAPI, bridge: Bridge) -> None:
    """The personas: list, read, put, patch."""
    get = _get(app)

    get("/personas")(_reader("personas", bridge))

    @get("/personas/{persona_id}")
    async def persona_get(persona_id: str):
        found = (await bridge.run("personas", {}))["personas"].get(persona_id)
        if found is None:
            raise ApiFault("think-unknown-persona", f"no persona {persona_id!r}", "GET /personas lists them")
        return {"id": persona_id, **found}

    @app.put("/personas/{persona_id}")
    async def persona_put(persona_id: str, request: Request):
        payload = await read_json(request)
        validate(Persona, payload)  # the body is a persona: its id is the path's
        return await bridge.run("persona.put", {**payload, "id": persona_id})

    @app.patch("/personas/{persona_id}")
    async def persona_patch(persona_id: str, request: Request):
        payload = await read_json(request)
        if isinstance(payload, dict) and "id" in payload:
            raise ControlFault("command-invalid", "bad request: the persona's id is the path's, not a field",
                               "send only the fields to change")
        body = {**payload, "id": persona_id} if isinstance(payload, dict) else payload
        return await bridge.run("persona.patch", body)


def add_avatar_routes(app: FastAPI, bridge: Bridge, max_upload_bytes: int) -> None:
    """The avatars: list, contact sheet, enroll (a multipart photo), remove."""
    get = _get(app)

    @get("/avatars")
    async def avatars():
        result = await bridge.run("avatars", {})
        return {**result, "sheets": {name: f"/avatars/{name}/sheet.jpg" for name in result["avatars"]}}

    @get("/avatars/{name}/sheet.jpg")
    async def avatar_sheet(name: str):
        return Response(await bridge.call(Commands.avatar_sheet, name), media_type="image/jpeg", headers=_NO_STORE)

    @app.post("/avatars", status_code=201)
    async def avatar_enroll(request: Request):
        name, photo, replace = await read_photo_form(request, max_upload_bytes)
        result = await bridge.call(Commands.enroll, name, photo, max_upload_bytes, replace=replace)
        return JSONResponse({**result, "sheet": f"/avatars/{result['name']}/sheet.jpg"}, status_code=201)

    @app.delete("/avatars/{name}")
    async def avatar_remove(name: str):
        return await bridge.run("avatar.remove", {"name": name})


def add_voice_routes(app: FastAPI, bridge: Bridge) -> None:
    """The voices: list and a spoken sample."""
    get = _get(app)

    get("/voices")(_reader("voices", bridge))

    @get("/voices/sample.wav")
    async def voice_sample(id: str, text: str = ""):
        return Response(await bridge.call(Commands.voice_sample, id, text), media_type="audio/wav", headers=_NO_STORE)


def add_config_routes(app: FastAPI, bridge: Bridge) -> None:
    """The config: read, replace, merge (a change that needs it restarts after the response)."""
    get = _get(app)

    get("/config")(_reader("config.get", bridge))

    @app.put("/config")
    async def config_put(request: Request):
        return JSONResponse(await bridge.command("config.apply", request), background=bridge.restart())

    @app.patch("/config")
    async def config_patch(request: Request):
        return JSONResponse(await bridge.command("config.merge", request), background=bridge.restart())



_ACTIONS = (("say", "/say"), ("interrupt", "/interrupt"), ("persona", "/persona"), ("avatar", "/avatar"),
            ("voice", "/voice"), ("voice.enroll", "/voices"), ("volume", "/volume"), ("mute", "/mute"),
            ("models.verify", "/models/verify"))
"""Commands posted with their JSON body as it is."""


def add_action_routes(app: FastAPI, bridge: Bridge) -> None:
    """The commands that act (say, interrupt, switch persona, avatar or voice, ...) and restart."""
    for name, path in _ACTIONS:
        app.post(path)(_poster(name, bridge))

    @app.post("/restart")
    async def restart(request: Request):
        return JSONResponse(await bridge.command("restart", request), background=bridge.restart())


def _reader(name: str, bridge: Bridge) -> Callable:
    """The GET handler of a command that takes no arguments."""

    async def handler():
        return await bridge.run(name, {})

    handler.__name__ = name.replace(".", "_")
    return handler


def _poster(name: str, bridge: Bridge) -> Callable:
    async def handler(request: Request):
        return await bridge.command(name, request)

    handler.__name__ = f"post_{name.replace('.', '_')}"
    return handler


def add_session_routes(app: FastAPI, token: str | None) -> None:
    """POST /session: the console's login (the token into an HttpOnly cookie)."""

    @app.post("/session")
    async def session(request: Request):
        given = validate(bodies.SessionRequest, await read_json(request)).token
        if token is not None and not hmac.compare_digest(given.encode(), token.encode()):
            raise ApiFault("api-unauthorized", "wrong token", "use the value of the device's [api] token_env variable")
        response = JSONResponse({"ok": True, "token_required": token is not None})
        if token is not None:
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response


def add_stream_routes(app: FastAPI, bridge: Bridge) -> None:
    """Server-Sent Events (state, then events) and the live face (MJPEG)."""
    get = _get(app)

    @get("/events")
    async def events(request: Request):
        if request.method == "HEAD":  # the headers of the stream, without opening one
            return Response(media_type="text/event-stream", headers=_NO_STORE)
        client = bridge.events.open("events")
        first = await bridge.state()
        return StreamingResponse(_sse(bridge.events, client, first), media_type="text/event-stream",
                                 headers={**_NO_STORE, "X-Accel-Buffering": "no"})

    @get("/live.mjpeg")
    async def live(request: Request):
        if request.method == "HEAD":
            return Response(media_type=MJPEG, headers=_NO_STORE)
        client = bridge.events.open("frames")
        return StreamingResponse(_mjpeg(bridge.events, client), media_type=MJPEG, headers=_NO_STORE)


def add_console_routes(app: FastAPI) -> None:
    """The web console's page and icon (its other files are mounted at /console)."""
    get = _get(app)

    @get("/")
    async def index():
        return FileResponse(str(CONSOLE / "index.html"), headers={"Cache-Control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon():
        return FileResponse(str(CONSOLE / "favicon.svg"), media_type="image/svg+xml",
                            headers={"Cache-Control": "max-age=86400"})


CONSOLE = resources.files("runtime") / "console"
"""The web console's files."""


async def _sse(hub, client, first: dict) -> AsyncIterator[bytes]:
    """The event stream: a state snapshot first, then events; a comment every 15 s keeps proxies
    and dead connections honest."""
    try:
        yield _event({"type": "state", **first})
        while True:
            try:
                item = await client.next(15.0)
            except StopAsyncIteration:
                return
            yield _event(item) if item is not None else b": ping\n\n"
    finally:
        hub.close_client("events", client)


def _event(item: dict) -> bytes:
    return f"event: {item.get('type', 'message')}\ndata: {json.dumps(item, ensure_ascii=False)}\n\n".encode()


async def _mjpeg(hub, client) -> AsyncIterator[bytes]:
    try:
        while True:
            try:
                jpeg = await client.next(5.0)
            except StopAsyncIteration:
                return
            if jpeg is not None:
                yield (b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " + str(len(jpeg)).encode()
                       + b"\r\n\r\n" + jpeg + b"\r\n")
    finally:
        hub.close_client("frames", client)
