"""The REST API and the web console (FastAPI on uvicorn, served by the api actor).

Every operation goes through the same command layer as the MQTT fleet link
(runtime.control.commands), run in the api actor's thread: the handlers here only read HTTP
(JSON bodies, a multipart photo, the bearer token) and write HTTP (JSON, errors with the right
status, Server-Sent Events, an MJPEG stream). Request bodies are validated by the same models
as MQTT payloads, so both give the same answer to the same input; the OpenAPI document at
/openapi.json lists those models. Errors are `{"error": {"code", "message", "hint"}}`.
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
from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from runtime import __version__
from runtime.control import requests as bodies
from runtime.control.uploads import read_json, read_photo_form
from runtime.core.config import Persona
from runtime.core.errors import ApiFault, RuntimeFault

COOKIE = "edge_talker_token"
"""The console keeps the token in this cookie (HttpOnly, SameSite=Strict): EventSource and <img>
cannot send an Authorization header."""
_OPEN = ("/", "/console", "/favicon.ico", "/session")
"""Paths served without a token: the console's static files (no data in them) and the login."""
_STATUS = {"unauthorized": 401, "busy": 503, "stopping": 503, "failed": 500, "not-found": 404,
           "method-not-allowed": 405, "unsupported-media-type": 415, "confirm-needed": 409}


def http_status(fault: RuntimeFault) -> int:
    """The HTTP status of a fault: 404 unknown, 409 in use, 413 too large, 401/503/500, else 400."""
    code = fault.code
    for suffix, status in _STATUS.items():
        if code.endswith(suffix):
            return status
    if code.endswith("-unknown") or "-unknown-" in code or code in ("model-missing", "bench-missing"):
        return 404
    if code.endswith("-in-use"):
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
    schemas: dict[str, Any] = {}

    def body(model: type[BaseModel]) -> dict:
        """openapi_extra declaring a JSON request body of this model."""
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        return {"requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}

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
        return error_response(ApiFault(code, f"{request.method} {request.url.path}: {err.detail}",
                                       "GET /openapi.json lists every path"), err.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, err: RequestValidationError):
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        return error_response(ApiFault("command-invalid", f"bad request: {problems}",
                                       "GET /openapi.json describes every request"), 400)

    async def run(name: str, payload: Any) -> Any:
        return await bridge.call(lambda actor: actor.run(name, payload))

    async def command(name: str, request: Request) -> Any:
        return await run(name, await read_json(request))

    def after_restart() -> BackgroundTask:
        """Restart the process, if the change asked for it, once the response is sent."""
        return BackgroundTask(bridge.device.restart_if_pending)

    # --- reading --------------------------------------------------------------------------------

    @app.get("/status", summary="Online, version, running since")
    async def status():
        return await bridge.call(lambda actor: actor.commands.status())

    @app.get("/state", summary="Persona, avatar, voice, volume, health, last turn's numbers")
    async def state():
        return await bridge.call(lambda actor: actor.state())

    @app.get("/personas", summary="Every persona and the active one")
    async def personas():
        return await run("personas", {})

    @app.get("/personas/{persona_id}", summary="One persona")
    async def persona_get(persona_id: str):
        found = (await run("personas", {}))["personas"].get(persona_id)
        if found is None:
            raise ApiFault("think-unknown-persona", f"no persona {persona_id!r}", "GET /personas lists them")
        return {"id": persona_id, **found}

    @app.put("/personas/{persona_id}", summary="Add or replace a persona", openapi_extra=body(Persona))
    async def persona_put(persona_id: str, request: Request):
        payload = await read_json(request)
        if isinstance(payload, dict):
            payload = {**payload, "id": persona_id}
        return await run("persona.put", payload)

    @app.get("/avatars", summary="The enrolled avatars and the one shown")
    async def avatars():
        result = await run("avatars", {})
        return {**result, "sheets": {name: f"/avatars/{name}/sheet.jpg" for name in result["avatars"]}}

    @app.get("/avatars/{name}/sheet.jpg", summary="Contact sheet of an avatar's key poses",
             response_class=Response, responses={200: {"content": {"image/jpeg": {}}}})
    async def avatar_sheet(name: str):
        jpeg = await bridge.call(lambda actor: actor.commands.avatar_sheet(name))
        return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @app.get("/voices", summary="The voices and the one in use")
    async def voices():
        return await run("voices", {})

    @app.get("/voices/sample.wav", summary="A voice saying a sentence (the console's listen button)",
             response_class=Response, responses={200: {"content": {"audio/wav": {}}}})
    async def voice_sample(id: str, text: str = ""):
        wav = await bridge.call(lambda actor: actor.commands.voice_sample(id, text))
        return Response(wav, media_type="audio/wav", headers={"Cache-Control": "no-store"})

    @app.get("/config", summary="The configuration in force and what operators applied")
    async def config_get():
        return await run("config.get", {})

    @app.get("/bench/latest", summary="The last end-to-end benchmark report")
    async def bench_latest():
        return await bridge.call(lambda actor: actor.commands.bench_latest())

    @app.get("/bench/latest/timeline.png", summary="Its timeline picture", response_class=FileResponse)
    async def bench_timeline():
        path = await bridge.call(lambda actor: actor.commands.bench_file("timeline.png"))
        return FileResponse(path, media_type="image/png")

    # --- acting ---------------------------------------------------------------------------------

    for name, path, model, summary in (
            ("say", "/say", bodies.SayRequest, "Say this now, with the face (interrupts)"),
            ("interrupt", "/interrupt", bodies.Empty, "Stop the avatar now"),
            ("persona", "/persona", bodies.PersonaRequest, "Switch persona"),
            ("avatar", "/avatar", bodies.AvatarRequest, "Show another avatar"),
            ("voice", "/voice", bodies.VoiceRequest, "Speak with another voice"),
            ("volume", "/volume", bodies.VolumeRequest, "Set the speaker's loudness"),
            ("mute", "/mute", bodies.MuteRequest, "Mute or unmute the speaker"),
            ("models.verify", "/models/verify", bodies.VerifyRequest, "Re-hash the models")):
        app.post(path, summary=summary, openapi_extra=body(model))(_poster(name, command))

    @app.post("/restart", summary="Restart the process once the response is sent", openapi_extra=body(bodies.Empty))
    async def restart(request: Request):
        return JSONResponse(await command("restart", request), background=after_restart())

    @app.put("/config", summary="Apply a config document (validated in full; nothing changes on error)",
             openapi_extra=body(bodies.ConfigApplyRequest))
    async def config_put(request: Request):
        return JSONResponse(await command("config.apply", request), background=after_restart())

    @app.patch("/personas/{persona_id}", summary="Change some fields of a persona (the others stay)",
               openapi_extra=body(bodies.PersonaPatch))
    async def persona_patch(persona_id: str, request: Request):
        payload = await read_json(request)
        if isinstance(payload, dict):
            payload = {**payload, "id": persona_id}
        return await run("persona.patch", payload)

    @app.patch("/config", summary="Merge a partial config document over the applied one (only the keys it "
                                  "names change; one that removes or reverts settings needs confirm)",
               openapi_extra=body(bodies.ConfigMergeRequest))
    async def config_patch(request: Request):
        return JSONResponse(await command("config.merge", request), background=after_restart())

    @app.post("/avatars", summary="Enroll a photo (multipart: name, photo, replace) as an avatar", status_code=201,
              openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                  "type": "object", "required": ["name", "photo"], "properties": {
                      "name": {"type": "string", "pattern": bodies.NAME},
                      "photo": {"type": "string", "format": "binary"},
                      "replace": {"type": "boolean", "default": False}}}}}}})
    async def avatar_enroll(request: Request):
        name, photo, replace = await read_photo_form(request, max_upload_bytes)
        result = await bridge.call(lambda actor: actor.commands.enroll(name, photo, max_upload_bytes, replace=replace))
        return JSONResponse({**result, "sheet": f"/avatars/{result['name']}/sheet.jpg"}, status_code=201)

    @app.delete("/avatars/{name}", summary="Delete an avatar that is not on show")
    async def avatar_remove(name: str):
        return await run("avatar.remove", {"name": name})

    @app.post("/session", summary="Keep the token in a cookie (for the console's streams)",
              openapi_extra=body(_Session))
    async def session(request: Request):
        payload = await read_json(request)
        given = payload.get("token", "") if isinstance(payload, dict) else ""
        if token is not None and not (isinstance(given, str) and hmac.compare_digest(given.encode(), token.encode())):
            raise ApiFault("api-unauthorized", "wrong token", "use the value of the device's [api] token_env variable")
        response = JSONResponse({"ok": True, "token_required": token is not None})
        if token is not None:
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    # --- streams --------------------------------------------------------------------------------

    @app.get("/events", summary="Server-Sent Events: state, turn metrics, barge-ins, faults, config; "
                                "captions only with [api] captions", response_class=StreamingResponse)
    async def events():
        client = bridge.hub.open("events")
        first = await bridge.call(lambda actor: actor.state())
        return StreamingResponse(_sse(bridge.hub, client, first), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    @app.get("/live.mjpeg", summary="The face as MJPEG, for remote preview", response_class=StreamingResponse)
    async def live():
        client = bridge.hub.open("frames")
        return StreamingResponse(_mjpeg(bridge.hub, client), media_type="multipart/x-mixed-replace; boundary=frame",
                                 headers={"Cache-Control": "no-store"})

    # --- the console --------------------------------------------------------------------------

    console = resources.files("runtime") / "console"

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(str(console / "index.html"), headers={"Cache-Control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon():
        return FileResponse(str(console / "favicon.svg"), media_type="image/svg+xml",
                            headers={"Cache-Control": "max-age=86400"})

    app.mount("/console", StaticFiles(directory=str(console)), name="console")

    def openapi() -> dict:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            doc.setdefault("components", {}).setdefault("schemas", {}).update(schemas)
            doc["components"]["schemas"]["Error"] = _ERROR_SCHEMA
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi
    return app


class _Session(BaseModel):
    """POST /session: the token to keep in the console's cookie."""

    token: str


_ERROR_SCHEMA = {"type": "object", "required": ["error"], "properties": {"error": {
    "type": "object", "required": ["code", "message", "hint"],
    "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "hint": {"type": "string"},
                   "errors": {"type": "array", "items": {"type": "string"}}}}}}


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
