"""The REST API and the web console (FastAPI on uvicorn, served by the api actor).

Every operation goes through the same command layer as the MQTT fleet link
(runtime.control.commands), run in the api actor's thread: the handlers (runtime.control.routes,
one router per area) only read HTTP
(JSON bodies, a multipart photo, the bearer token) and write HTTP (JSON, errors with the right
status, Server-Sent Events, an MJPEG stream). Request bodies are validated by the same models
as MQTT payloads, so both give the same answer to the same input; the OpenAPI document at
/openapi.json is generated from those models (runtime.control.openapi). Errors are
`{"error": {"code", "message", "hint", "stage"}}`. HEAD works wherever GET does; a method a path
does not have is answered 405 with `Allow`.
"""

from __future__ import annotations

import hmac

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.staticfiles import StaticFiles

from runtime import __version__
from runtime.control import openapi as contract
from runtime.control import routes
from runtime.control.routes import COOKIE
from runtime.core.errors import ApiFault, RuntimeFault

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


def create_app(actor, *, token: str | None, max_upload_bytes: int) -> FastAPI:
    """The application; `actor` is the api actor (None: an app that only serves its document),
    `token` the bearer token every request but the console's files must carry (None: none needed)."""
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

    bridge = routes.Bridge(actor)
    # Added to the app itself, not included as APIRouters: FastAPI keeps included routers apart
    # from app.routes, which the 405 answer's Allow header is read from.
    for add in (routes.add_state_routes, routes.add_persona_routes, routes.add_voice_routes,
                routes.add_config_routes, routes.add_action_routes, routes.add_stream_routes):
        add(app, bridge)
    routes.add_avatar_routes(app, bridge, max_upload_bytes)
    routes.add_session_routes(app, token)
    routes.add_console_routes(app)
    app.mount("/console", StaticFiles(directory=str(routes.CONSOLE)), name="console")

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = contract.document(title=app.title, version=app.version, description=app.description,
                                                   token=token is not None)
        return app.openapi_schema

    app.openapi = openapi
    return app


def allowed(app: FastAPI, path: str) -> list[str]:
    """The methods a path has (for 405's Allow header)."""
    methods: set[str] = set()
    for route in app.routes:
        regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(path):
            methods |= set(route_methods)
    return sorted(methods)
