"""The base of every config section and of every backend's section (shared by the config schema,
runtime/config/, and the engines in runtime/engines/, whose backend sections live beside them)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, model_validator


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_numbers_as_text(cls, data):
        # Strict where it matters: "3" is not a number and "true" is not a boolean (TOML and JSON
        # both have real ones), while enums and literals still come from their names.
        if isinstance(data, dict):
            for name, value in data.items():
                field = cls.model_fields.get(name)
                if field is not None and field.annotation in (int, float, bool) and _coercible(value):
                    kind = "true or false" if field.annotation is bool else "a number"
                    raise ValueError(f"{name}: {value!r} is text; write {kind} without quotes")
                if field is not None and field.annotation in (int, float) and isinstance(value, bool):
                    raise ValueError(f"{name}: {value!r} is a boolean; write a number")
        return data


def _coercible(value) -> bool:
    """Text pydantic would take as a number or a boolean ("3", "true")."""
    if not isinstance(value, str):
        return False
    try:
        float(value)
    except ValueError:
        return value.strip().lower() in ("true", "false", "yes", "no", "on", "off", "t", "f", "y", "n")
    return True


class Backend(Section):
    """A section that selects a backend with `type`. The module that defines the class builds its
    engine with `create(section, store)` (see runtime.engines.build): a backend is one file."""

    ENGINE: ClassVar[str] = ""
    """Another module with `create`, for a config class that lives apart from its engine."""
    STAGE: ClassVar[str] = ""
    """For a backend from another package: the section it serves ("asr", "think" or "speak")."""
