"""A persona: who the avatar is, how it speaks and what it knows ([personas.<id>] of the config)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, PrivateAttr, model_validator

from runtime.core import confine, limits
from runtime.core.section import Section
from runtime.dialogue.emotion import Emotion
from runtime.dialogue.safety import RESPONSES, SafetyCategory
from runtime.speech.language import LANGUAGES


class Persona(Section):
    """[personas.<id>] who the avatar is and how it speaks."""

    name: str = Field(min_length=1, max_length=200, description="The avatar's name.")
    system_prompt: str = Field(min_length=1, max_length=limits.MAX_PROMPT_CHARS,
                               description="Who the avatar is and what it knows.")
    style: str = Field("", max_length=4096, description="How it speaks (added to the system prompt).")
    language: Literal["match", "en", "zh"] = Field("match",
        description="Answer language: match = the visitor's language, or always en / zh.")
    max_sentences: int = Field(3, ge=1, le=20, description="Longest spoken answer (sentences).")
    greeting: dict[str, str] = Field(default_factory=dict,
        description="Said first to a new visitor, by language code (en, zh); empty: no greeting.")
    emotion: Emotion = Field(Emotion.NEUTRAL,
        description="Bias: neutral lines are read with this emotion ...")
    emotion_intensity: float = Field(0.3, ge=0, le=1, description="... at this intensity (0..1).")
    voices: dict[str, str] = Field(default_factory=dict, json_schema_extra={"propertyNames": {"enum": list(LANGUAGES)}},
        description="Voice pinned per language (en, zh), a voice of that language's [speak] engine: a Kokoro "
                    "voice name, or a piper model id / .onnx path; empty: the [speak] voice.")
    facts: str = Field("", max_length=limits.MAX_PROMPT_CHARS + limits.MAX_FACTS_FILE_BYTES,
                       description="What the avatar knows about the venue: hours, floors, services, prices. "
                                   "Answers use only these; a question they do not cover is answered so.")
    facts_file: str = Field("", description="A UTF-8 text file with more facts (added after `facts`): in the config "
                                            "file's directory (relative to it) or the state directory, at most 256 kB.")
    safety: dict[SafetyCategory, dict[str, str]] = Field(default_factory=dict,
        description="Fixed responses to safety phrases, by category then language; a missing one is the "
                    "built-in response.")
    fallback: dict[str, str] = Field(default_factory=dict,
        json_schema_extra={"propertyNames": {"enum": list(LANGUAGES)}},
        description="Said when the language model cannot answer (its server is down), by language code; a "
                    "missing one is the built-in line.")

    _facts_file_text: str = PrivateAttr("")
    """What facts_file held when the whole config was validated (Settings reads it, confined)."""

    @model_validator(mode="after")
    def _check(self) -> Persona:
        for field in ("voices", "fallback"):
            unknown = set(getattr(self, field)) - set(LANGUAGES)
            if unknown:
                raise ValueError(f"{field}: {', '.join(sorted(unknown))} is not a language ({', '.join(LANGUAGES)})")
        return self

    def read_facts_file(self, roots: list[Path]) -> None:
        """Read facts_file from the allowed directories (an unreadable one fails check-config, not
        the first visitor)."""
        if self.facts_file:
            try:
                self._facts_file_text = confine.read_text(self.facts_file, roots, limits.MAX_FACTS_FILE_BYTES)
            except confine.Refused as err:
                raise ValueError(f"facts_file {err}") from err

    def facts_text(self) -> str:
        """`facts` plus the contents of `facts_file`."""
        return f"{self.facts.strip()}\n{self._facts_file_text.strip()}".strip()

    def folded(self) -> Persona:
        """This persona with its facts file's text in `facts` (for a message on the bus)."""
        return self.model_copy(update={"facts": self.facts_text(), "facts_file": ""})

    def safety_response(self, category: SafetyCategory, language: str) -> str:
        """This persona's fixed response to a safety phrase (else the built-in one)."""
        return self.safety.get(category, {}).get(language) or RESPONSES[category][language]
