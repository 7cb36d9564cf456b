"""The REST API and the web console (FastAPI on uvicorn, served by the api actor).

Every operation goes through the same command layer as the MQTT fleet link
(runtime.control.commands), run in the api actor's thread: the handlers here only read HTTP
(JSON bodies, a multipart photo, the bearer token) and write HTTP (JSON, errors with the right
status, Server-Sent Events, an MJPEG stream). Request bodies are validated by the same models
as MQTT payloads, so both give the same answer to the same input; the OpenAPI document at
/openapi.json is generated from those models (runtime.control.openapi). Errors are
`{"error": {"code", "message", "hint", "stage"}}`. HEAD works wherever GET does; a method a path
does not have is answered 405 with `Allow`.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from runtime import __version__
from runtime.config import Persona
from runtime.control import openapi as contract
from runtime.control import requests as bodies
from runtime.control.commands import validate
from runtime.control.uploads import read_json, read_photo_form
from runtime.core.errors import ApiFault, ControlFault, RuntimeFault

COOKIE = "edge_talker_token"
"""The console keeps the token in this cookie (HttpOnly, SameSite=Strict): EventSource and <img>
cannot send an Authorization header."""
_OPEN = ("/", "/console", "/favicon.ico", "/session")
"""Paths served without a token: the console's static files (no data in them) and the login."""
_STATUS = {"unauthorized": 401, "busy": 503, "stopping": 503, "failed": 500, "not-found": 404,
           "method-not-allowed": 405, "unsupported-media-type": 415, "damaged": 500, "confirm-needed": 409}
_UNPROCESSABLE = {"config-invalid", "config-syntax", "config-too-deep", "say-nothing-left", "avatar-no-face",
                  "avatar-bad-image", "avatar-several-faces", "avatar-image-too-large", "think-prompt-too-long",
                  "capture-no-device", "api-token-missing", "remote-password-missing", "voice-sample-not-speech",
                  "persona-invalid"}
"""Requests that match the document but that the kiosk cannot use (422): the document cannot say
that a photo has a face, that TOML text is a config, or that a config starts on this device."""


def http_status(fault: RuntimeFault) -> int:
    """The HTTP status of a fault: 404 unknown or missing, 409 in use or exists, 413 too large, 422
    valid but unusable, 401/503/500, else 400 (the request breaks the OpenAPI document)."""
    code = fault.code
    if code in _UNPROCESSABLE or (code.startswith(("avatar-face-", "audio-file-", "voice-sample-"))
                                  and not code.endswith("-too-large")):
        return 422
    for suffix, status in _STATUS.items():
        if code.endswith(suffix):
            return status
    if code.endswith(("-unknown", "-missing")) or "-unknown-" in code:
        return 404
    if code.endswith(("-in-use", "-exists")):
        return 409
    if code.endswith("-too-large"):
        return 413
    return 400


def error_response(fault: RuntimeFault, status: int | None = None) -> JSONResponse:
    """The API's one error shape."""
    headers = {"WWW-Authenticate": "Bearer"} if fault.code == "api-unauthorized" else None
    return JSONResponse({"error": fault.as_dict()}, status_code=status or http_status(fault), headers=headers)


def create_app(bridge, *, token: str | None, max_upload_bytes: int) -> FastAPI:
    """The application; `bridge` is the api actor (call, hub, settings), `token` the bearer
    token every request but the console's files must carry (None: none needed)."""
    app = FastAPI(title="EdgeTalker", version=__version__, docs_url=None, redoc_url=None,
                  description="A kiosk's REST API: the same commands as the MQTT fleet link. Send "
                              "`Authorization: Bearer <token>` when the device has [api] token_env set.")

    @app.middleware("http")
    async def authorize(request: Request, call_next):
        path = request.url.path
        if token is not None and path not in _OPEN and not path.startswith("/console/"):
            given = request.headers.get("authorization", "")
            given = given[7:] if given.lower().startswith("bearer ") else request.cookies.get(COOKIE, "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return error_response(ApiFault("api-unauthorized", "a valid bearer token is required" if given
                                               else "no bearer token", "send Authorization: Bearer <token> (the "
                                               "value of the device's [api] token_env variable)"))
        return await call_next(request)

    @app.exception_handler(RuntimeFault)
    async def fault(request: Request, err: RuntimeFault):
        return error_response(err)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, err: StarletteHTTPException):
        code = {404: "api-not-found", 405: "api-method-not-allowed"}.get(err.status_code, "api-bad-request")
        response = error_response(ApiFault(code, f"{request.method} {request.url.path}: {err.detail}",
                                           "GET /openapi.json lists every path"), err.status_code)
        if err.status_code == 405:
            response.headers["Allow"] = ", ".join(allowed(app, request.url.path))
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        return error_response(ApiFault("command-invalid", f"bad request: {problems}",
                                       "GET /openapi.json describes every request"), 400)

    async def run(name: str, payload: Any) -> Any:
        return await bridge.call(lambda actor: actor.run(name, payload))

    async def command(name: str, request: Request) -> Any:
        payload = await read_json(request)
        if payload is None:  # no body means no arguments; a JSON null is not an object
            raise ApiFault("command-invalid", "bad request: body: null is not an object", "send {} or no body")
        return await run(name, payload)

    def after_restart() -> BackgroundTask:
        """Restart the process, if the change asked for it, once the response is sent."""
        return BackgroundTask(bridge.device.restart_if_pending)

    # --- reading --------------------------------------------------------------------------------

    get = _getter(app)

    @get("/status")
    async def status():
        return await bridge.call(lambda actor: actor.commands.status())

    @get("/state")
    async def state():
        return await bridge.call(lambda actor: actor.state())

    @get("/personas")
    async def personas():
        return await run("personas", {})

    @get("/personas/{persona_id}")
    async def persona_get(persona_id: str):
        found = (await run("personas", {}))["personas"].get(persona_id)
        if found is None:
            raise ApiFault("think-unknown-persona", f"no persona {persona_id!r}", "GET /personas lists them")
        return {"id": persona_id, **found}

    @app.put("/personas/{persona_id}")
    async def persona_put(persona_id: str, request: Request):
        payload = await read_json(request)
        validate(Persona, payload)  # the body is a persona: its id is the path's
        return await run("persona.put", {**payload, "id": persona_id})

    @get("/avatars")
    async def avatars():
        result = await run("avatars", {})
        return {**result, "sheets": {name: f"/avatars/{name}/sheet.jpg" for name in result["avatars"]}}

    @get("/avatars/{name}/sheet.jpg")
    async def avatar_sheet(name: str):
        jpeg = await bridge.call(lambda actor: actor.commands.avatar_sheet(name))
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @get("/voices")
    async def voices():
        return await run("voices", {})

    @get("/voices/sample.wav")
    async def voice_sample(id: str, text: str = ""):
        wav = await bridge.call(lambda actor: actor.commands.voice_sample(id, text))
        return Response(wav, media_type="audio/wav", headers={"Cache-Control": "no-store"})

    @get("/config")
    async def config_get():
        return await run("config.get", {})

    @get("/bench/latest")
    async def bench_latest():
        return await bridge.call(lambda actor: actor.commands.bench_latest())

    @get("/bench/latest/timeline.png")
    async def bench_timeline():
        path = await bridge.call(lambda actor: actor.commands.bench_file("timeline.png"))
        return FileResponse(path, media_type="image/png")

    # --- acting ---------------------------------------------------------------------------------

    for name, path in (("say", "/say"), ("interrupt", "/interrupt"), ("persona", "/persona"), ("avatar", "/avatar"),
                       ("voice", "/voice"), ("voice.enroll", "/voices"), ("volume", "/volume"), ("mute", "/mute"),
                       ("models.verify", "/models/verify")):
        app.post(path)(_poster(name, command))

    @app.post("/restart")
    async def restart(request: Request):
        return JSONResponse(await command("restart", request), background=after_restart())

    @app.put("/config")
    async def config_put(request: Request):
        return JSONResponse(await command("config.apply", request), background=after_restart())

    @app.patch("/personas/{persona_id}")
    async def persona_patch(persona_id: str, request: Request):
        payload = await read_json(request)
        if isinstance(payload, dict) and "id" in payload:
            raise ControlFault("command-invalid", "bad request: the persona's id is the path's, not a field",
                               "send only the fields to change")
        return await run("persona.patch", {**payload, "id": persona_id} if isinstance(payload, dict) else payload)

    @app.patch("/config")
    async def config_patch(request: Request):
        return JSONResponse(await command("config.merge", request), background=after_restart())

    @app.post("/avatars", status_code=201)
    async def avatar_enroll(request: Request):
        name, photo, replace = await read_photo_form(request, max_upload_bytes)
        result = await bridge.call(lambda actor: actor.commands.enroll(name, photo, max_upload_bytes, replace=replace))
        return JSONResponse({**result, "sheet": f"/avatars/{result['name']}/sheet.jpg"}, status_code=201)

    @app.delete("/avatars/{name}")
    async def avatar_remove(name: str):
        return await run("avatar.remove", {"name": name})

    @app.post("/session")
    async def session(request: Request):
        given = validate(bodies.SessionRequest, await read_json(request)).token
        if token is not None and not hmac.compare_digest(given.encode(), token.encode()):
            raise ApiFault("api-unauthorized", "wrong token", "use the value of the device's [api] token_env variable")
        response = JSONResponse({"ok": True, "token_required": token is not None})
        if token is not None:
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    # --- streams --------------------------------------------------------------------------------

    @get("/events")
    async def events(request: Request):
        if request.method == "HEAD":  # the headers of the stream, without opening one
            return Response(media_type="text/event-stream", headers={"Cache-Control": "no-store"})
        client = bridge.hub.open("events")
        first = await bridge.call(lambda actor: actor.state())
        return StreamingResponse(_sse(bridge.hub, client, first), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @get("/live.mjpeg")
    async def live(request: Request):
        if request.method == "HEAD":
            return Response(media_type=MJPEG, headers={"Cache-Control": "no-store"})
        client = bridge.hub.open("frames")
        return StreamingResponse(_mjpeg(bridge.hub, client), media_type=MJPEG,
                                 headers={"Cache-Control": "no-store"})

    # --- the console --------------------------------------------------------------------------

    console = resources.files("runtime") / "console"

    @get("/")
    async def index():
        return FileResponse(str(console / "index.html"), headers={"Cache-Control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon():
        return FileResponse(str(console / "favicon.svg"), media_type="image/svg+xml",
                            headers={"Cache-Control": "max-age=86400"})

    app.mount("/console", StaticFiles(directory=str(console)), name="console")

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = contract.document(title=app.title, version=app.version, description=app.description,
                                                   token=token is not None)
        return app.openapi_schema

    app.openapi = openapi
    return app


MJPEG = "multipart/x-mixed-replace; boundary=frame"


def _getter(app: FastAPI) -> Callable:
    """app.get that also answers HEAD (the headers GET would send, no body)."""
    return lambda path: app.api_route(path, methods=["GET", "HEAD"])


def allowed(app: FastAPI, path: str) -> list[str]:
    """The methods a path has (for 405's Allow header)."""
    methods: set[str] = set()
    for route in app.routes:
        regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(path):
            methods |= set(route_methods)
    return sorted(methods)


def _poster(name: str, command: Callable) -> Callable:
    async def handler(request: Request):
        return await command(name, request)

    handler.__name__ = f"post_{name.replace('.', '_')}"
    return handler


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
