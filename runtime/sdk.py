"""A small Python SDK over a kiosk's REST API (standard library only, so it runs anywhere).

    from runtime.sdk import Client

    kiosk = Client("http://kiosk.local:8080", token="...")
    kiosk.say("Welcome to the museum!")
    kiosk.put_persona("curator", name="Ada", system_prompt="You are Ada, the curator.")
    kiosk.use_persona("curator")
    avatar = kiosk.enroll_avatar("ada.jpg")          # then look at kiosk.avatar_sheet(...) before switching
    for event in kiosk.events():                       # state, turn, barge-in, fault, config, caption
        print(event["type"], event.get("voice_to_voice_ms"))

Every method raises ApiError (code, message, hint, status) when the kiosk refuses; the codes are
the same as the MQTT fleet link's. Client.OPERATIONS names the method of every operation of the
kiosk's OpenAPI document (GET /openapi.json); a test sends requests generated from that document
through these methods.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, TypedDict
from urllib import error, parse, request


class ApiError(Exception):
    """The kiosk refused a request: a stable code, a message, what to do, the HTTP status."""

    def __init__(self, status: int, code: str, message: str, hint: str = "", errors: list[str] | None = None,
                 diff: list[dict] | None = None):
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message, self.hint = status, code, message, hint
        self.errors = errors or []
        """One line per bad key of a refused config."""
        self.diff = diff or []
        """What a refused config change would do (config-confirm-needed): {path, kind, before, after}."""


class Event(TypedDict, total=False):
    """One Server-Sent Event: `type` is state, turn, barge-in, fault, config or caption."""

    type: str
    turn: int
    voice_to_voice_ms: float
    say_to_audio_ms: float
    first_audio_ns: int
    who: str
    text: str


class Client:
    """A kiosk's REST API. `token`: the value of the kiosk's [api] token_env variable, if set."""

    OPERATIONS: ClassVar[dict[str, str | None]] = {
        "GET /status": "status", "GET /state": "state", "GET /personas": "personas",
        "GET /personas/{persona_id}": "persona", "PUT /personas/{persona_id}": "put_persona",
        "POST /persona": "use_persona", "GET /avatars": "avatars", "POST /avatars": "enroll_avatar",
        "GET /avatars/{name}/sheet.jpg": "avatar_sheet", "DELETE /avatars/{name}": "remove_avatar",
        "POST /avatar": "use_avatar", "GET /voices": "voices", "GET /voices/sample.wav": "voice_sample",
        "POST /voice": "use_voice", "POST /voices": "enroll_voice",
        "POST /say": "say", "POST /interrupt": "interrupt", "POST /volume": "volume",
        "POST /mute": "mute", "GET /config": "config", "PUT /config": "apply_config",
        "GET /bench/latest": "bench_latest", "GET /bench/latest/timeline.png": "bench_timeline",
        "POST /models/verify": "verify_models", "POST /restart": "restart", "GET /events": "events",
        "GET /live.mjpeg": "live_frames", "POST /session": None, "PATCH /personas/{persona_id}": "patch_persona",
        "PATCH /config": "merge_config",
    }
    """The method of each operation of the OpenAPI document (None: POST /session, the web console's
    login; the SDK sends the token with every request)."""

    def __init__(self, url: str = "http://127.0.0.1:8080", token: str | None = None, *, timeout_s: float = 60.0):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r}: the kiosk's URL starts with http:// or https://")
        self.url = url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    # --- reading ------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Online, version, running since (unix seconds)."""
        return self._call("GET", "/status")

    def state(self) -> dict[str, Any]:
        """Persona, avatar, voice, volume, muted, config_version, health, last turn's numbers."""
        return self._call("GET", "/state")

    @property
    def personas(self) -> dict[str, dict[str, Any]]:
        """Every persona by id (name, system_prompt, style, language, greeting, ...)."""
        return self._call("GET", "/personas")["personas"]

    def persona(self, persona_id: str) -> dict[str, Any]:
        """One persona: its id and fields."""
        return self._call("GET", f"/personas/{parse.quote(persona_id, safe='')}")

    @property
    def avatars(self) -> list[str]:
        """The enrolled avatars."""
        return self._call("GET", "/avatars")["avatars"]

    @property
    def voices(self) -> list[dict[str, Any]]:
        """The voices: id, description, installed."""
        return self._call("GET", "/voices")["voices"]

    def config(self) -> dict[str, Any]:
        """The configuration in force, the applied document and its version."""
        return self._call("GET", "/config")

    def avatar_sheet(self, name: str) -> bytes:
        """JPEG contact sheet of an avatar's key poses."""
        return self._call("GET", f"/avatars/{parse.quote(name, safe='')}/sheet.jpg", raw=True)

    def voice_sample(self, voice_id: str, text: str = "") -> bytes:
        """WAV of a voice saying `text` (empty: a sample sentence of its language)."""
        query = parse.urlencode({"id": voice_id, **({"text": text} if text else {})})
        return self._call("GET", f"/voices/sample.wav?{query}", raw=True)

    def bench_latest(self) -> dict[str, Any]:
        """The last end-to-end benchmark report, its targets and where its timeline picture is."""
        return self._call("GET", "/bench/latest")

    def bench_timeline(self) -> bytes:
        """PNG timeline of the last benchmark report."""
        return self._call("GET", "/bench/latest/timeline.png", raw=True)

    # --- acting -------------------------------------------------------------------------------------

    def say(self, text: str, language: str = "") -> int:
        """Say this now, with the face (interrupts); the turn number."""
        body = {"text": text, **({"language": language} if language else {})}
        return self._call("POST", "/say", body)["turn"]

    def interrupt(self) -> int:
        """Stop the avatar now; the turn number."""
        return self._call("POST", "/interrupt", {})["turn"]

    def put_persona(self, persona_id: str, **fields: Any) -> dict[str, Any]:
        """Add or replace a persona (fields of [personas.<id>]: name, system_prompt, style, ...)."""
        return self._call("PUT", f"/personas/{parse.quote(persona_id, safe='')}", fields)

    def patch_persona(self, persona_id: str, **fields: Any) -> dict[str, Any]:
        """Change only these fields of a persona (None removes a key of greeting, voices or safety)."""
        return self._call("PATCH", f"/personas/{parse.quote(persona_id, safe='')}", fields)

    def use_persona(self, persona_id: str) -> dict[str, Any]:
        """Switch persona."""
        return self._call("POST", "/persona", {"id": persona_id})

    def enroll_avatar(self, photo: str | Path, name: str | None = None, *, replace: bool = False) -> dict[str, Any]:
        """Make an avatar from one portrait photo (JPEG, PNG or WebP); name defaults to the file's;
        replace: a taken name gets the new photo. The result has `sheet`, the contact sheet to look
        at before use_avatar(), and `warnings` (e.g. several faces)."""
        path = Path(photo)
        name = name or "".join(c if c.isalnum() else "-" for c in path.stem.lower()).strip("-") or "avatar"
        boundary = uuid.uuid4().hex
        body = (f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n{name}\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="replace"\r\n\r\n{str(replace).lower()}\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="photo"; filename="{path.name}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n").encode() + path.read_bytes() \
            + f"\r\n--{boundary}--\r\n".encode()
        return self._call("POST", "/avatars", body, content_type=f"multipart/form-data; boundary={boundary}")

    def use_avatar(self, name: str) -> dict[str, Any]:
        """Show another avatar."""
        return self._call("POST", "/avatar", {"name": name})

    def remove_avatar(self, name: str) -> dict[str, Any]:
        """Delete an avatar that is not on show."""
        return self._call("DELETE", f"/avatars/{parse.quote(name, safe='')}")

    def enroll_voice(self, sample: str | Path | bytes, name: str, *, language: str = "",
                     replace: bool = False) -> dict[str, Any]:
        """Match a voice to a sample (a WAV, FLAC or OGG file, or its bytes; about a minute). The
        result says `stored`, the `similarity` reached on the sample's held-back speech against the
        nearest stock voice and the default, and for a poor match the voice to use instead (`offer`)."""
        import base64

        data = sample if isinstance(sample, bytes) else Path(sample).read_bytes()
        body = {"name": name, "sample": base64.b64encode(data).decode("ascii"), "language": language,
                "replace": replace}
        return self._call("POST", "/voices", body, timeout_s=max(self.timeout_s, 900.0))

    def use_voice(self, voice_id: str) -> dict[str, Any]:
        """Speak with another voice."""
        return self._call("POST", "/voice", {"id": voice_id})

    def volume(self, level: float) -> dict[str, Any]:
        """Set the speaker's loudness, 0..1."""
        return self._call("POST", "/volume", {"level": level})

    def mute(self, on: bool = True) -> dict[str, Any]:
        """Mute or unmute the speaker (the face still speaks)."""
        return self._call("POST", "/mute", {"on": on})

    def apply_config(self, version: str, *, toml: str | None = None, document: dict | None = None) -> dict[str, Any]:
        """Apply a config document (TOML text or a dict) over the kiosk's file: {version, changed, restart}."""
        if toml is not None and document is not None:
            raise ValueError("give toml or document, not both")
        body = {"version": version, **({"toml": toml} if toml is not None else {"json": document or {}})}
        return self._call("PUT", "/config", body)

    def verify_models(self, ids: list[str] | None = None) -> dict[str, Any]:
        """Re-hash the models (all, or these ids): {ok, models: {id: "ok" or its problems}}."""
        return self._call("POST", "/models/verify", {"ids": list(ids)} if ids else {})

    def restart(self) -> dict[str, Any]:
        """Restart the kiosk's process once it has answered."""
        return self._call("POST", "/restart", {})

    def merge_config(self, version: str, document: dict, *, confirm: bool = False) -> dict[str, Any]:
        """Merge a partial document over the applied one (only its keys change; None removes one).
        A change that removes or reverts settings raises ApiError config-confirm-needed with its
        `diff` unless confirm."""
        return self._call("PATCH", "/config", {"version": version, "json": document, "confirm": confirm})

    # --- events -------------------------------------------------------------------------------------

    def events(self) -> Iterator[Event]:
        """Server-Sent Events as they come: a `state` first, then turns, barge-ins, faults, config
        changes (and captions when the kiosk allows them). Blocks; stop iterating to close."""
        response = self._open("GET", "/events", timeout_s=None)
        with response:
            data: list[str] = []
            for raw in response:
                line = raw.decode("utf-8").rstrip("\r\n")
                if line.startswith("data:"):
                    data.append(line[5:].lstrip())
                elif not line and data:
                    yield json.loads("\n".join(data))
                    data = []

    def live_frames(self) -> Iterator[bytes]:
        """The face as it is drawn, one JPEG at a time (GET /live.mjpeg). Blocks; stop iterating to close."""
        response = self._open("GET", "/live.mjpeg", timeout_s=None)
        with response:
            length = None
            while raw := response.readline():
                line = raw.decode("latin-1").strip()
                if line.lower().startswith("content-length:"):
                    length = int(line.split(":", 1)[1])
                elif not line and length is not None:
                    yield response.read(length)
                    length = None

    # --- plumbing -----------------------------------------------------------------------------------

    def _open(self, method: str, path: str, body: Any = None, *, content_type: str = "application/json",
              timeout_s: float | None = 0):
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers["Content-Type"] = content_type
        req = request.Request(self.url + path, data=data, method=method, headers=headers)  # noqa: S310 - http(s) only
        try:
            return request.urlopen(req, timeout=self.timeout_s if timeout_s == 0 else timeout_s)  # noqa: S310 - ditto
        except error.HTTPError as err:
            try:
                detail = json.loads(err.read()).get("error", {})
            except ValueError:
                detail = {}
            raise ApiError(err.code, detail.get("code", f"http-{err.code}"), detail.get("message", str(err)),
                           detail.get("hint", ""), detail.get("errors"), detail.get("diff")) from None
        except error.URLError as err:
            raise ApiError(0, "api-unreachable", f"cannot reach {self.url}: {err.reason}",
                           "check the URL and that the kiosk runs with [api] enabled = true") from None

    def _call(self, method: str, path: str, body: Any = None, *, raw: bool = False, **kwargs) -> Any:
        with self._open(method, path, body, **kwargs) as response:
            payload = response.read()
        return payload if raw else json.loads(payload)
