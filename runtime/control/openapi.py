"""The REST API's OpenAPI document and the MQTT commands' JSON schemas, generated from the models
that validate the requests (runtime.control.requests, the config file's Persona), so a field's
type, range, pattern, enum and requiredness cannot differ between what the document says and what
the kiosk accepts.

The operations are listed once here (OPERATIONS); runtime.control.http serves them and a test
checks that the app's routes and this list are the same. Every operation names the error statuses
it can answer with, all with the one error body (ErrorBody).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, Field

from runtime.config import Persona
from runtime.control import requests as bodies

JSON = "application/json"


class ErrorDetail(BaseModel):
    """What went wrong: a stable code, a message, what to do, the stage that refused."""

    code: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", description="Stable, kebab-case; match on it.")
    message: str
    hint: str = Field(description="What to do about it.")
    stage: str = Field(description="The part of the kiosk that refused (api, control, config, avatar, ...).")
    errors: list[str] = Field(default_factory=list, description="config-invalid: one line per bad key.")


class ErrorBody(BaseModel):
    """The API's one error body."""

    error: ErrorDetail


STATUSES = {
    400: "The request breaks this document: not JSON (api-bad-json), a missing, extra or wrong field "
         "(command-invalid), a broken upload (api-bad-form).",
    401: "No bearer token, or a wrong one (api-unauthorized).",
    404: "Something the request names does not exist (a persona, avatar, voice, model, the benchmark report).",
    409: "In use or already there (avatar-in-use, avatar-exists).",
    413: "The body is too large (api-body-too-large, avatar-photo-too-large).",
    415: "The body is not of the media type this operation reads (api-unsupported-media-type).",
    422: "The request matches this document but the kiosk cannot use what it says: a config that does not "
         "validate or start (config-invalid, config-syntax), a photo without a usable face (avatar-no-face, "
         "avatar-bad-image, ...), a text with nothing left to say (say-nothing-left).",
    500: "The command failed on the kiosk (command-failed, *-damaged).",
    503: "Busy (command-busy, api-busy: too many streams) or stopping (api-stopping); retry later.",
}
"""What each error status means, with the codes it carries."""
ALWAYS = (500, 503)
"""Every operation that reaches the kiosk's command layer can answer these."""
BODY = (400, 413, 415)
"""Every operation that reads a body can answer these."""


@dataclass(frozen=True)
class Operation:
    """One operation of the API, as documented."""

    method: str
    path: str
    summary: str
    body: type[BaseModel] | None = None
    """Its JSON body's model (the one that validates it)."""
    body_required: bool = True
    patch: bool = False
    """The body is a merge patch of `body`: any of its fields, null taking one back."""
    params: tuple[tuple[str, str, type[BaseModel], str, bool], ...] = ()
    """(name, where: path or query, model, field of the model, required): parameters checked by that field."""
    ok: int = 200
    media: str = JSON
    errors: tuple[int, ...] = ()
    public: bool = False
    """Served without a token."""
    extra: dict[str, Any] = field(default_factory=dict)
    """More of the operation object (a multipart body, a description)."""


def _photo_form() -> dict:
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": ["name", "photo"], "additionalProperties": False, "properties": {
            "name": bodies.AvatarRequest.model_json_schema()["properties"]["name"],
            "photo": {"type": "string", "format": "binary", "minLength": 1, "description":
                      "A portrait photo (JPEG, PNG or WebP) of one face; at most [api] max_upload_mb."},
            "replace": {"type": "string", "enum": ["true", "false", "on", "off", "1", "0"], "default": "false",
                        "description":
                        "true: an avatar of that name gets the new photo (else a taken name is refused)."}}},
        "encoding": {"photo": {"contentType": "image/jpeg, image/png, image/webp, application/octet-stream"}}}}}}


class _SampleText(BaseModel):
    """The query of GET /voices/sample.wav beside the voice id."""

    text: str = Field("", description="What the voice says; empty: a sample sentence of its language. "
                                      "Spaces are collapsed and it is cut at 200 characters.")


_EVENTS = ("Server-Sent Events (`event: TYPE`, `data: JSON`): `state` first and on change, `turn` (a turn's "
           "numbers), `barge-in`, `fault`, `config`, `visitor` (with a camera: `visitor_present`, "
           "`visitors_per_hour`); `caption` only with [api] captions = true. A comment line "
           "every 15 s keeps the connection alive. Each data object has `type`.")
_NAME = ("name", "path", bodies.AvatarRequest, "name", True)
_PERSONA = ("persona_id", "path", bodies.PersonaRequest, "id", True)

OPERATIONS: tuple[Operation, ...] = (
    Operation("GET", "/status", "Online, version, running since"),
    Operation("GET", "/state", "Persona, avatar, voice, volume, health, last turn's numbers"),
    Operation("GET", "/personas", "Every persona and the active one"),
    Operation("GET", "/personas/{persona_id}", "One persona", params=(_PERSONA,), errors=(404,)),
    Operation("PUT", "/personas/{persona_id}", "Add or replace a persona", body=Persona, params=(_PERSONA,),
              errors=(*BODY, 422)),
    Operation("PATCH", "/personas/{persona_id}", "Change some fields of a persona; the others stay (a merge "
              "patch: null takes a field or a table's key back to the config file's)", body=Persona, patch=True,
              params=(_PERSONA,), errors=(*BODY, 404, 422)),
    Operation("POST", "/persona", "Switch persona", body=bodies.PersonaRequest, errors=(*BODY, 404)),
    Operation("GET", "/avatars", "The enrolled avatars and the one shown"),
    Operation("POST", "/avatars", "Enroll a photo (multipart: name, photo, replace) as an avatar", ok=201,
              errors=(*BODY, 409, 422), extra=_photo_form()),
    Operation("GET", "/avatars/{name}/sheet.jpg", "Contact sheet of an avatar's key poses", params=(_NAME,),
              media="image/jpeg", errors=(400, 404)),
    Operation("DELETE", "/avatars/{name}", "Delete an avatar that is not on show", params=(_NAME,),
              errors=(400, 404, 409)),
    Operation("POST", "/avatar", "Show another avatar", body=bodies.AvatarRequest, errors=(*BODY, 404)),
    Operation("GET", "/voices", "The voices and the one in use"),
    Operation("GET", "/voices/sample.wav", "A voice saying a sentence (the console's listen button)",
              params=(("id", "query", bodies.VoiceRequest, "id", True), ("text", "query", _SampleText, "text", False)),
              media="audio/wav", errors=(400, 404, 422)),
    Operation("POST", "/voices", "Enroll a voice from a sample (base64 in JSON; about a minute). The reply states the "
              "similarity reached on held-back speech vs the nearest stock voice and the default; a poor match is "
              "not stored (stored: false, offer, notice voice-match-poor)", body=bodies.VoiceEnrollRequest,
              errors=(*BODY, 409, 413, 422)),
    Operation("POST", "/voice", "Speak with another voice", body=bodies.VoiceRequest, errors=(*BODY, 404, 422)),
    Operation("POST", "/say", "Say this now, with the face (interrupts)", body=bodies.SayRequest,
              errors=(*BODY, 422)),
    Operation("POST", "/interrupt", "Stop the avatar now (no body, or {})", body=bodies.Empty, body_required=False,
              errors=BODY),
    Operation("POST", "/volume", "Set the speaker's loudness", body=bodies.VolumeRequest, errors=(*BODY, 422)),
    Operation("POST", "/mute", "Mute or unmute the speaker", body=bodies.MuteRequest, errors=(*BODY, 422)),
    Operation("GET", "/config", "The configuration in force and what operators applied"),
    Operation("PUT", "/config", "Apply a config document (validated in full; nothing changes on error)",
              body=bodies.ConfigApplyRequest, errors=(*BODY, 404, 409, 422)),
    Operation("PATCH", "/config", "Merge a partial config document over the applied one (only the keys it names "
              "change; one that removes or reverts settings needs confirm: 409 with the diff)",
              body=bodies.ConfigMergeRequest, errors=(*BODY, 404, 409, 422)),
    Operation("GET", "/bench/latest", "The last end-to-end benchmark report", errors=(404,)),
    Operation("GET", "/bench/latest/timeline.png", "Its timeline picture", media="image/png", errors=(404,)),
    Operation("POST", "/models/verify", "Re-hash the models (no body or {}: all of them)", body=bodies.VerifyRequest,
              body_required=False, errors=(*BODY, 404),
              extra={"description": "Reads every byte of the models: all of them take seconds per GB."}),
    Operation("POST", "/restart", "Restart the process once the response is sent (no body, or {})",
              body=bodies.Empty, body_required=False, errors=BODY),
    Operation("POST", "/session", "Keep the token in an HttpOnly cookie (for the console's streams)",
              body=bodies.SessionRequest, errors=(*BODY, 401), public=True),
    Operation("GET", "/events", "The kiosk's events as they happen", media="text/event-stream",
              extra={"description": _EVENTS}),
    Operation("GET", "/live.mjpeg", "The face as MJPEG, for remote preview (at most 8 streams)",
              media="multipart/x-mixed-replace"),
)

"""Every operation of the API, once."""


def _schema(model: type[BaseModel], into: dict) -> dict:
    """A $ref to the model's schema, added with its definitions to `into` (components/schemas)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
    into.update(schema.pop("$defs", {}))
    into[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _patch_schema(model: type[BaseModel], into: dict) -> dict:
    """A $ref to the schema of a merge patch of the model (RFC 7396): at least one of its fields,
    each also null (back to the value in force), a table's keys too."""
    full = model.model_json_schema(ref_template="#/components/schemas/{model}", by_alias=True)
    into.update(full.pop("$defs", {}))
    name = f"{model.__name__}Patch"
    into[name] = {"type": "object", "minProperties": 1, "additionalProperties": False,
                  "description": f"Some fields of a {model.__name__}; null takes one back.",
                  "properties": {key: _nullable(prop) for key, prop in full["properties"].items()}}
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict) -> dict:
    """The schema, or null; a table's values likewise (a merge patch removes a key with null)."""
    inner = dict(schema)
    if isinstance(inner.get("additionalProperties"), dict):
        inner["additionalProperties"] = _nullable(inner["additionalProperties"])
    inner.pop("default", None)
    return {"anyOf": [inner, {"type": "null"}]}


def _parameter(name: str, where: str, model: type[BaseModel], key: str, required: bool) -> dict:
    schema = dict(model.model_json_schema(by_alias=True)["properties"][key])
    description = schema.pop("description", "")
    schema.pop("title", None)
    return {"name": name, "in": where, "required": required, "schema": schema,
            **({"description": description} if description else {})}


def _content(media: str) -> dict:
    if media == JSON:
        return {"schema": {"type": "object"}}
    if media == "text/event-stream":
        return {"schema": {"type": "string"}}
    if media == "multipart/x-mixed-replace":
        return {"schema": {"type": "string"}, "example": "--frame\r\nContent-Type: image/jpeg\r\n..."}
    return {"schema": {"type": "string", "format": "binary"}}


def operation_object(op: Operation, schemas: dict, *, token: bool) -> dict:
    """The OpenAPI operation object of one operation."""
    doc: dict[str, Any] = {"summary": op.summary, "operationId": _operation_id(op)}
    if op.params:
        doc["parameters"] = [_parameter(*p) for p in op.params]
    if op.body is not None:
        schema = _patch_schema(op.body, schemas) if op.patch else _schema(op.body, schemas)
        doc["requestBody"] = {"required": op.body_required, "content": {JSON: {"schema": schema}}}
    doc.update(op.extra)
    errors = set(op.errors) | ({401} if token else set()) | (set() if op.public else set(ALWAYS))
    doc["responses"] = {str(op.ok): {"description": "Done" if op.media == JSON else op.media,
                                     "content": {op.media: _content(op.media)}}}
    for status in sorted(errors):
        doc["responses"][str(status)] = {"description": STATUSES[status],
                                         "content": {JSON: {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
    if token and op.public:
        doc["security"] = []
    return doc


def _operation_id(op: Operation) -> str:
    words = "".join(c if c.isalnum() else " " for c in op.path).split()
    return "_".join([op.method.lower(), *words])


def document(*, title: str, version: str, description: str, token: bool) -> dict:
    """The OpenAPI 3.1 document of a kiosk's API (`token`: the kiosk requires a bearer token)."""
    schemas: dict[str, Any] = {}
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = operation_object(op, schemas, token=token)
    _schema(ErrorBody, schemas)
    doc: dict[str, Any] = {"openapi": "3.1.0", "info": {"title": title, "version": version, "description": description},
                           "paths": paths, "components": {"schemas": schemas}}
    if token:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer", "description":
                                                           "the value of the device's [api] token_env variable"}}
        doc["security"] = [{"bearer": []}]
    return doc


def command_schemas() -> dict:
    """The JSON schema of every MQTT command's payload, by command name (the models that validate them)."""
    commands = {}
    for name, model in sorted(bodies.REQUESTS.items()):
        schema = model.model_json_schema(by_alias=True)
        commands[name] = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    return {"commands": commands}
