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
the same as the MQTT fleet link's.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict
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
        return self._call("GET", f"/avatars/{parse.quote(name)}/sheet.jpg", raw=True)

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
        return self._call("PUT", f"/personas/{parse.quote(persona_id)}", fields)

    def patch_persona(self, persona_id: str, **fields: Any) -> dict[str, Any]:
        """Change only these fields of a persona (None removes a key of greeting, voices or safety)."""
        return self._call("PATCH", f"/personas/{parse.quote(persona_id)}", fields)

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
        return self._call("DELETE", f"/avatars/{parse.quote(name)}")

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
        body = {"version": version, **({"toml": toml} if toml is not None else {"json": document or {}})}
        return self._call("PUT", "/config", body)

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
