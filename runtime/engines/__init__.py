"""Model wrappers (no bus, no threads, no global config) and the registry that builds them.

A backend's config class (runtime/core/config.py) names its engine module in `ENGINE`; that module
has `create(section, store)`, which turns the config section into the engine. So a new backend is
one engine file plus its config class in the stage's union: nothing else chooses backends.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

from runtime.core.config import Backend
from runtime.store.models import ModelStore


def build(section: Backend, store: ModelStore) -> Any:
    """The engine a backend section asks for (loads its model; call it in the actor's thread)."""
    if not section.ENGINE:
        raise TypeError(f"{type(section).__name__} names no engine module")
    return import_module(section.ENGINE).create(section, store)


def vad(store: ModelStore) -> Callable[..., Any]:
    """A function making Silero speech detectors with given thresholds."""
    from runtime.engines.vad_silero import SileroVad
    from runtime.store.needed import VAD_MODEL

    return lambda **kw: SileroVad(store.path(VAD_MODEL, "silero_vad.onnx"), **kw)
