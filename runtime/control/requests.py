"""The bodies of operators' commands (MQTT payloads and HTTP request bodies alike).

Strict: a string is not a number and 1 is not `true`; unknown keys are refused. A persona is
validated by the config file's own Persona schema.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from runtime.config import Persona
from runtime.core.limits import MAX_TEXT_CHARS, clean_text

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
AVATAR_NAME = r"^[a-z0-9][a-z0-9_-]{0,63}$"
"""An avatar's name is also its folder's: lower-case letters, digits, - and _."""
MAX_PHOTO_BYTES = 10 * 2**20
"""Largest photo accepted for enrollment over MQTT (the API has [api] max_upload_mb)."""
MAX_SAMPLE_BYTES = 10 * 2**20
"""Largest voice sample accepted for enrollment (a base64 body; the API's body limit applies too)."""


class Request(BaseModel):
    """Base of every command body."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Empty(Request):
    """A command without arguments (`{}`)."""


class SayRequest(Request):
    """`say`: speak this now, with the face (interrupts what the avatar is saying)."""

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS, pattern=r"\S",
                      description="What the avatar says. Control characters and terminal escapes are dropped; "
                                  "a text with nothing left to say is refused with say-nothing-left (422).")
    language: Literal["", "en", "zh"] = Field("", description="Language of the text; empty = guess.")

    @field_validator("text", mode="after")
    @classmethod
    def _clean(cls, value: str) -> str:
        # Checked as sent (the document's bounds), then cleaned: the command refuses what cleans to nothing.
        return clean_text(value, None)


class PersonaRequest(Request):
    """`persona`: switch to another persona."""

    id: str = Field(pattern=NAME, description="A persona id (a key of [personas]).")


class PersonaPut(Persona):
    """`persona.put`: add or replace a persona; the fields are those of [personas.<id>]."""

    id: str = Field(pattern=NAME, description="The persona id.")


class PersonaPatch(Request):
    """`persona.patch`: change some fields of a persona (those of [personas.<id>]); the others stay.
    A table field (greeting, voices, safety) merges key by key; null removes a key."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    id: str = Field(pattern=NAME, description="The persona id (an existing persona).")


class AvatarRequest(Request):
    """`avatar`: show another enrolled avatar."""

    name: str = Field(pattern=AVATAR_NAME, description="An avatar name.")


class EnrollRequest(Request):
    """`avatar.enroll`: make an avatar from one portrait photo (base64 of a JPEG, PNG or WebP)."""

    name: str = Field(pattern=AVATAR_NAME, description="Name of the new avatar (lower-case letters, digits, - or _).")
    photo: str = Field(min_length=1, description="The photo, base64-encoded (at most 10 MB decoded).")
    replace: bool = Field(False, description="Replace an avatar of that name (else avatar-exists).")


class VoiceEnrollRequest(Request):
    """`voice.enroll`: match a voice to 3-20 s of one person speaking (base64 of a WAV, FLAC or OGG file).
    A match no closer to the person than the nearest stock voice or the default is not stored: the
    reply says `stored: false`, names the voice to use instead (`offer`) and carries the notice
    voice-match-poor."""

    name: str = Field(pattern=AVATAR_NAME, description="Name of the new voice (lower-case letters, digits, - or _).")
    sample: str = Field(min_length=1, description="The sample file, base64-encoded (at most 10 MB decoded).")
    language: Literal["", "en", "zh"] = Field("", description="Language of the sample; empty = detect it.")
    replace: bool = Field(False, description="Replace a voice of that name (else voice-exists).")


class VoiceRequest(Request):
    """`voice`: speak with another voice."""

    id: str = Field(min_length=1, max_length=256,
                    description="A voice of `voices`: a tts model id of the manifest, a voice file, a Kokoro voice "
                                "or an enrolled voice.")


class VolumeRequest(Request):
    """`volume`: set the speaker's loudness."""

    level: float = Field(ge=0, le=1, description="0 = silent .. 1 = full.")


class MuteRequest(Request):
    """`mute`: silence the speaker (the face still speaks) or unmute it."""

    on: bool


def _no_default(schema: dict) -> None:
    schema.pop("default", None)  # absent, not null: null is refused


class ConfigApplyRequest(Request):
    """`config.apply`: a config document (TOML text or a JSON object) laid over the device's file."""

    # At most 4 bytes a character in UTF-8: the longest text allowed fits the API's 2 MiB body.
    toml: str = Field(None, max_length=500_000, json_schema_extra=_no_default,  # type: ignore[assignment]
                      description="The config as TOML text (exactly one of toml and json).")
    json_: dict[str, Any] = Field(None, alias="json", json_schema_extra=_no_default,  # type: ignore[assignment]
                                  description="The config as a JSON object of config sections (exactly one of "
                                              "toml and json).")
    version: str = Field(min_length=1, max_length=64, pattern=r"^[^\s]+$",
                         description="Your name for this config, reported in the state as config_version.")
    dry_run: bool = Field(False, description="Only tell what would change (`diff`); change nothing.")

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True,
                              json_schema_extra={"oneOf": [{"required": ["toml"]}, {"required": ["json"]}]})
    """A missing key is None; null is refused (it is neither TOML text nor an object)."""

    @model_validator(mode="after")
    def _one_document(self) -> ConfigApplyRequest:
        if (self.toml is None) == (self.json_ is None):
            raise ValueError("send exactly one of `toml` and `json`")
        return self


class SessionRequest(Request):
    """POST /session (the API only): the token to keep in the console's cookie."""

    token: str = Field(max_length=4096, description="The value of the device's [api] token_env variable.")


class ConfigMergeRequest(ConfigApplyRequest):
    """`config.merge`: a partial config document merged over what operators applied (JSON merge
    patch: only the keys it names change, null removes one; a persona merges field by field). A
    change that removes a setting or drops an applied value is refused (config-confirm-needed,
    with its diff) unless `confirm` is true."""

    confirm: bool = Field(False, description="Go ahead although the diff removes or reverts settings.")


class VerifyRequest(Request):
    """`models.verify`: re-hash the models (all, or these ids)."""

    ids: list[str] = Field(default_factory=list, max_length=64, description="Model ids; empty = all.")


REQUESTS: dict[str, type[BaseModel]] = {
    "state": Empty, "status": Empty, "say": SayRequest, "interrupt": Empty, "persona": PersonaRequest,
    "persona.put": PersonaPut, "persona.patch": PersonaPatch, "personas": Empty, "avatar": AvatarRequest,
    "avatar.enroll": EnrollRequest,
    "avatar.remove": AvatarRequest, "avatars": Empty, "voice": VoiceRequest, "voices": Empty,
    "voice.enroll": VoiceEnrollRequest,
    "volume": VolumeRequest, "mute": MuteRequest, "config.get": Empty, "config.apply": ConfigApplyRequest,
    "config.merge": ConfigMergeRequest,
    "models.verify": VerifyRequest, "restart": Empty,
}
"""Every command by name, with its body."""
