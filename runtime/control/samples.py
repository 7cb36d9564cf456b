"""Voice samples for the console's listen button, from a small cache of loaded engines.

Loading a voice engine takes seconds and tens of MB; an operator clicking through the voices
must not pay that on every click, nor grow the process with each one. One Kokoro engine reads
every Kokoro voice of its model (stock or enrolled: the voice is an argument of the call); a
piper voice is its own model. The cache keeps the last MAX_PER_KIND engines of each kind and
drops the least recently used; a stock voice's style is forgotten after its sample (the running
voices live in the speak actor's own engine).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from typing import Any

from runtime.config import Settings
from runtime.control import assets
from runtime.places import Places
from runtime.store.models import ModelStore

MAX_PER_KIND = 2
"""Engines kept loaded per kind (kokoro, piper)."""


class VoiceSamples:
    """The device's sample engines (one per process; thread-safe: one sample at a time)."""

    def __init__(self, build=None) -> None:
        from runtime import engines

        self._build = build or engines.build
        self._lock = threading.Lock()
        self._engines: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self.loads = 0
        """Engines loaded so far (a click on a voice whose engine is cached loads none)."""

    def wav(self, settings: Settings, places: Places, voice: str, text: str = "") -> bytes:
        """WAV of a voice (stock or enrolled) saying `text`, else its language's sample sentence."""
        from runtime.voice import bundle

        text = " ".join(text.split())[:200]
        state, models = places.state, places.models
        with self._lock:
            if bundle.is_enrolled(state, voice):
                enrolled = bundle.load(state, voice)
                engine = self._engine(settings.speak.kokoro(), models)
                engine.add_voice(voice, enrolled.style)
                from runtime.voice.enroll import PREVIEW

                return self._say(engine, text or PREVIEW[enrolled.language], voice)
            language = assets.voice_language(settings, voice)
            section = getattr(settings.speak, language)
            assets.check_voice(models, voice, section)
            engine = self._engine(section.model_copy(update={"voice": voice}), models)
            return self._say(engine, text or assets.SAMPLE_TEXT[language], voice)

    def _say(self, engine, text: str, voice: str) -> bytes:
        try:
            return assets.voice_wav(engine, text, voice)
        finally:
            forget = getattr(engine, "forget_voice", None)
            if forget is not None:
                forget(voice)

    def _engine(self, section, models: ModelStore):
        """The cached engine for a section (Kokoro: any voice of its model), loading it if needed."""
        dump = section.model_dump(mode="json")
        if section.type == "kokoro":
            dump.pop("voice", None)
        key = (section.type, json.dumps(dump, sort_keys=True))
        engine = self._engines.get(key)
        if engine is None:
            same_kind = [k for k in self._engines if k[0] == section.type]
            for old in same_kind[: max(0, len(same_kind) - MAX_PER_KIND + 1)]:
                del self._engines[old]  # before loading: never more than MAX_PER_KIND at once
            engine = self._build(section, models)
            self.loads += 1
            self._engines[key] = engine
        self._engines.move_to_end(key)
        return engine

    def loaded(self) -> list[str]:
        """The kinds of the engines loaded now, least recently used first."""
        with self._lock:
            return [kind for kind, _ in self._engines]
