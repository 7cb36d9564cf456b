"""Reading HTTP request bodies with limits: JSON documents, and a multipart photo upload kept in
memory (never spooled to a temporary file: a visitor's photo touches no disk unless configured)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from runtime.core import limits
from runtime.core.errors import ApiFault

MAX_JSON_BYTES = 2 * 2**20
"""Largest JSON body (a config document is at most 1 MB of TOML)."""
_FORM_OVERHEAD = 64 * 1024
"""Room for the multipart headers and the name field around the photo."""


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused (api-body-too-large) as soon as it passes `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(size, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(size: int, limit: int, code: str = "api-body-too-large", what: str = "the request") -> ApiFault:
    return ApiFault(code, f"{what} has more than {limit / 2**20:.1f} MB ({size / 2**20:.1f} MB so far)",
                    "send a smaller photo or document")


async def read_json(request: Request) -> Any:
    """A JSON body (empty: no arguments); api-bad-json when it is not JSON."""
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind not in ("application/json", "text/plain", ""):
        raise ApiFault("api-unsupported-media-type", f"expected application/json, got {kind}",
                       "send the body as JSON with Content-Type: application/json")
    raw = await read_body(request, MAX_JSON_BYTES)
    if not raw.strip():
        return {}
    return limits.load_json(raw, lambda why, hint: ApiFault("api-bad-json", f"the body {why}", hint))


async def read_photo_form(request: Request, limit: int) -> tuple[str, bytes, bool]:
    """(name, photo bytes, replace) of a multipart/form-data upload with fields `name` and `photo`
    (and `replace`: true/on/1 to replace an avatar of that name)."""
    from python_multipart.exceptions import FormParserError
    from python_multipart.multipart import FormParser, parse_options_header

    kind, params = parse_options_header(request.headers.get("content-type", ""))
    if kind != b"multipart/form-data" or not params.get(b"boundary"):
        raise ApiFault("api-unsupported-media-type", "expected multipart/form-data with fields name and photo",
                       "e.g. curl -F name=ada -F photo=@ada.jpg http://kiosk:8080/avatars")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + _FORM_OVERHEAD:
        raise _too_large(int(declared), limit, "avatar-photo-too-large", "the photo")
    fields: dict[str, bytes] = {}
    files: dict[str, bytes] = {}

    def on_field(field) -> None:
        fields[field.field_name.decode("utf-8", "replace")] = field.value or b""

    def on_file(file) -> None:
        file.file_object.seek(0)
        files[file.field_name.decode("utf-8", "replace")] = file.file_object.read()

    # MAX_MEMORY_FILE_SIZE above the limit: the photo stays in memory; the body cap bounds it.
    parser = FormParser("multipart/form-data", on_field, on_file, boundary=params[b"boundary"],
                        config={"MAX_MEMORY_FILE_SIZE": limit + _FORM_OVERHEAD + 1, "MAX_BODY_SIZE": float("inf")})
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit + _FORM_OVERHEAD:
                raise _too_large(size, limit, "avatar-photo-too-large", "the photo")
            parser.write(chunk)
        parser.finalize()
    except (FormParserError, ValueError) as err:
        raise ApiFault("api-bad-form", f"the upload is not a valid multipart form: {err}",
                       "send fields name and photo, e.g. curl -F name=ada -F photo=@ada.jpg") from err
    photo = files.get("photo") or fields.get("photo")
    name = fields.get("name", b"").decode("utf-8", "replace").strip()
    if not photo or not name:
        raise ApiFault("api-bad-form", "the upload needs a field `name` and a file `photo`",
                       "e.g. curl -F name=ada -F photo=@ada.jpg http://kiosk:8080/avatars")
    if len(photo) > limit:
        raise ApiFault("avatar-photo-too-large", f"the photo has {len(photo) / 2**20:.1f} MB, at most "
                       f"{limit / 2**20:.0f} MB are accepted", "send a smaller JPEG")
    replace = fields.get("replace", b"").decode("utf-8", "replace").strip().lower()
    if replace not in ("", "true", "on", "1", "false", "off", "0"):
        raise ApiFault("api-bad-form", f"the field replace is {replace[:20]!r}", "send replace=true or leave it out")
    return name, photo, replace in ("true", "on", "1")
