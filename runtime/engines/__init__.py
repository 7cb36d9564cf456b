"""Model wrappers (no bus, no threads, no global config) and the registry that builds them.

A backend is one file here: its config section class (`type: Literal[...]`, on the bases of
runtime/core/section.py) and `create(section, store)`, which turns the section into the engine.
The schema (runtime/config/backends.py) lists the section in its stage's union; nothing else chooses
backends. A section class defined apart from its engine names the engine's module in ENGINE.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from types import ModuleType
from typing import Any

from runtime.core.section import Backend
from runtime.store.models import ModelStore


def module_of(section: Backend | type[Backend]) -> ModuleType | None:
    """The module that builds a section's engine (its `create`); None for a section without one
    (a language with type = "none")."""
    module = import_module(section.ENGINE or (section if isinstance(section, type) else type(section)).__module__)
    return module if callable(getattr(module, "create", None)) else None


def build(section: Backend, store: ModelStore) -> Any:
    """The engine a backend section asks for (loads its model; call it in the actor's thread)."""
    module = module_of(section)
    if module is None:
        raise TypeError(f"{type(section).__name__} has no engine (no create(section, store) in its module)")
    return module.create(section, store)


def vad(store: ModelStore) -> Callable[..., Any]:
    """A function making Silero speech detectors with given thresholds (`quick=True`: an onset
    detector without segments, for barge-in)."""
    from runtime.engines.vad_silero import VAD_MODEL, SileroOnset, SileroVad

    return lambda quick=False, **kw: (SileroOnset if quick else SileroVad)(store.path(VAD_MODEL, "silero_vad.onnx"),
                                                                          **kw)
