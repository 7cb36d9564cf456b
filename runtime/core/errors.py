"""Faults with stable codes: one base class, one subclass per stage.

A code is kebab-case and never changes once released; operators and tests match on it.
Every fault carries a hint that tells the user what to do about it.
"""

from __future__ import annotations


class RuntimeFault(Exception):
    """A failure the user can act on: a stable code, a message and a hint."""

    stage = "runtime"
    exit_code = 1

    def __init__(self, code: str, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def as_text(self) -> str:
        """The fault as the CLI prints it: code, message, hint."""
        text = f"error[{self.code}]: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text

    def as_dict(self) -> dict[str, str]:
        """The fault as a JSON-able map (for --json output, MQTT and HTTP replies)."""
        return {"code": self.code, "message": self.message, "hint": self.hint, "stage": self.stage}


class ConfigFault(RuntimeFault):
    """The configuration file is missing, unparsable or invalid."""

    stage = "config"
    exit_code = 2

    def __init__(self, code: str, message: str, hint: str = "", errors: list[str] | None = None):
        super().__init__(code, message, hint)
        self.errors = errors or []

    def as_dict(self) -> dict:
        """The fault as a JSON-able map, with one entry per configuration problem."""
        return {**super().as_dict(), "errors": list(self.errors)}

    def as_text(self) -> str:
        """The fault with one line per configuration problem."""
        lines = [f"error[{self.code}]: {self.message}"]
        lines += [f"  - {err}" for err in self.errors]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)


class ModelFault(RuntimeFault):
    """A model is missing, corrupt, unknown or could not be fetched."""

    stage = "models"


class BusFault(RuntimeFault):
    """A bus endpoint could not be bound or a message could not be decoded."""

    stage = "bus"


class SupervisorFault(RuntimeFault):
    """An actor could not start, or failed too often to keep running."""

    stage = "supervisor"
    exit_code = 3


class PlayFault(RuntimeFault):
    """The speaker failed (play-*)."""

    stage = "play"


class CaptureFault(RuntimeFault):
    """An input source (microphone, file, console) failed."""

    stage = "capture"


class CameraFault(RuntimeFault):
    """The camera of [camera] cannot be opened or read (camera-*); presence stops, the rest runs on."""

    stage = "camera"


class AvatarFault(RuntimeFault):
    """A photo cannot become an avatar, or an avatar bundle is missing or damaged."""

    stage = "avatar"


class VoiceFault(RuntimeFault):
    """A sample cannot become an enrolled voice, or an enrolled voice is missing or damaged (voice-*)."""

    stage = "voice"


class ListenFault(RuntimeFault):
    """Voice activity detection or speech recognition failed (asr-*, vad-*)."""

    stage = "listen"


class ThinkFault(RuntimeFault):
    """The language model or the conversation failed (llm-*, think-*)."""

    stage = "think"


class SpeakFault(RuntimeFault):
    """Text-to-speech failed (tts-*)."""

    stage = "speak"


class Unspeakable(SpeakFault):
    """This text cannot be said by this voice (no voice for its language, nothing to say): the
    speak actor skips it and the caption still shows it; the voice itself is fine."""


class RenderFault(RuntimeFault):
    """The face cannot be drawn or shown (display-*, render-*)."""

    stage = "render"


class RecordFault(RuntimeFault):
    """A recording cannot be written (record-*)."""

    stage = "record"


class ControlFault(RuntimeFault):
    """An operator's command was refused (command-*): bad input, or it cannot be done now."""

    stage = "control"


class ConfirmFault(ControlFault):
    """A change that would remove or revert settings, sent without `confirm`: the diff to look at."""

    def __init__(self, code: str, message: str, hint: str, diff: list[dict]) -> None:
        super().__init__(code, message, hint)
        self.diff = diff

    def as_dict(self) -> dict:
        """The fault as a JSON-able map, with the diff the operator confirms."""
        return {**super().as_dict(), "diff": self.diff}


class RemoteFault(RuntimeFault):
    """The MQTT fleet link: a bad payload or a broker that refuses us (mqtt-*, remote-*)."""

    stage = "remote"


class ApiFault(RuntimeFault):
    """The REST API: a bad request, a missing token, an upload too large (api-*)."""

    stage = "api"
