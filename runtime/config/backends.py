"""Backends as discriminated unions on `type`: the built-in engines' sections, the ones installed
packages add through an entry point, and the voice of each language ([speak])."""

from __future__ import annotations

import logging
import typing
from typing import Annotated, Union

from pydantic import BaseModel, Field, model_validator

from runtime.config.migrate import flat_speak
from runtime.config.sections import AutoCapture, BusCapture, ConsoleCapture, FileCapture, MicrophoneCapture
from runtime.core.section import Backend, Section
from runtime.engines import module_of
from runtime.engines.asr_sherpa import SherpaAsr
from runtime.engines.asr_whisper import WhisperAsr
from runtime.engines.asr_wyoming import WyomingAsr
from runtime.engines.llm import ThinkBackend
from runtime.engines.llm_echo import EchoThink
from runtime.engines.llm_llamacpp import LlamaThink
from runtime.engines.llm_openai import OpenAIThink
from runtime.engines.tts import NoSpeak
from runtime.engines.tts_kokoro import KokoroSpeak
from runtime.engines.tts_piper import PiperSpeak
from runtime.engines.tts_wyoming import WyomingSpeak
from runtime.speech.language import LANGUAGES

_LOGGER = logging.getLogger(__name__)


def backends(*classes: type[Section]):
    """A discriminated union on `type`; a stage with one backend so far is just that class."""
    if len(classes) == 1:
        return classes[0]
    return Annotated[Union[classes], Field(discriminator="type")]  # noqa: UP007 - runtime union


ENGINE_GROUP = "edge_talker.engines"
"""Entry-point group through which an installed package adds a backend: each entry point names
its config class (a Backend subclass with its own `type` and STAGE, in the module with its
engine's `create`, or naming that module in ENGINE)."""


def plugins(stage: str, base: type[Backend], taken: tuple[type[Backend], ...]) -> tuple[type[Backend], ...]:
    """The backends installed packages add to a stage. One that cannot be loaded, is no backend
    or takes a `type` already taken is left out with a warning: a broken package never stops the
    kiosk, and a config naming its type gets the unknown-type error with the known ones listed."""
    from importlib.metadata import entry_points

    names = {_type_name(cls) for cls in taken}
    found = []
    for point in entry_points(group=ENGINE_GROUP):
        try:
            cls = point.load()
        except Exception as err:  # noqa: BLE001 - any failure of another package's import
            _LOGGER.warning("engine package %s (%s) cannot be loaded: %s", point.name, point.value, err)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Backend) and "type" in cls.model_fields
                and module_of(cls) is not None):
            _LOGGER.warning("engine package %s: %s is no backend config class (a Backend with type, beside its "
                            "engine's create)",
                            point.name, point.value)
        elif cls.STAGE == stage and not issubclass(cls, base):
            _LOGGER.warning("engine package %s: a %s backend must extend %s", point.name, stage, base.__name__)
        elif cls.STAGE == stage and _type_name(cls) in names:
            _LOGGER.warning("engine package %s: type %r is taken", point.name, _type_name(cls))
        elif cls.STAGE == stage:
            names.add(_type_name(cls))
            found.append(cls)
    return tuple(found)


def _type_name(cls: type[Backend]) -> str:
    return typing.get_args(cls.model_fields["type"].annotation)[0]


_ASR = (WhisperAsr, SherpaAsr, WyomingAsr)
_THINK = (LlamaThink, EchoThink, OpenAIThink)
_SPEAK = (PiperSpeak, KokoroSpeak, WyomingSpeak, NoSpeak)
Capture = backends(AutoCapture, BusCapture, ConsoleCapture, FileCapture, MicrophoneCapture)
Asr = backends(*_ASR, *plugins("asr", Backend, _ASR))
Think = backends(*_THINK, *plugins("think", ThinkBackend, _THINK))
Speak = backends(*_SPEAK, *plugins("speak", Backend, _SPEAK))


def _default_types(cls: type[BaseModel], data):
    """A backend section without `type` means the field's default backend, as if it were written."""
    if isinstance(data, dict):
        for name, field in cls.model_fields.items():
            default, section = field.default, data.get(name)
            if isinstance(section, dict) and "type" not in section and hasattr(default, "type"):
                data = {**data, name: {"type": default.type, **section}}
    return data


class SpeakConfig(Section):
    """[speak.en] and [speak.zh] the voice of each language: each chunk of an answer is read by the
    voice of its language (a chunk with Chinese characters by zh, which also reads the English
    words among them; any other by en). A flat [speak] section (before there were two) is [speak.en]."""

    en: Speak = PiperSpeak()
    zh: Speak = KokoroSpeak()
    voice: str = Field("", max_length=64,
        description="An enrolled voice (`edge-talker voice list`): the avatar speaks the language it was enrolled "
                    "for with it (through Kokoro, whatever that language's engine); empty: the voices below.")

    @model_validator(mode="before")
    @classmethod
    def _default_backend_type(cls, data):
        return _default_types(cls, flat_speak(data, cls.model_fields))

    def kokoro(self) -> KokoroSpeak:
        """The Kokoro section enrolled voices are spoken through: a configured one, else the defaults."""
        return next((s for s in (self.zh, self.en) if s.type == "kokoro"), KokoroSpeak())

    def describe(self) -> str:
        """The voice of each language, e.g. `en: piper tts-piper-joe, zh: kokoro zf_xiaoxiao`."""
        parts = [f"enrolled voice {self.voice}"] if self.voice else []
        for lang in LANGUAGES:
            section = getattr(self, lang)
            parts.append(f"{lang}: captions only" if isinstance(section, NoSpeak) else
                         f"{lang}: {section.type} {section.voice}")
        return ", ".join(parts)
