"""Which manifest models a configuration loads: one answer for `run`'s check before anything
loads and for the fleet's report of the models in use."""

from __future__ import annotations

from runtime.config import Settings
from runtime.engines.vad_silero import VAD_MODEL
from runtime.face import avatars
from runtime.places import Places


def required_models(settings: Settings, places: Places, *, listens: bool) -> list[str]:
    """The manifest models the product loads with these settings (models given as paths are not
    listed); `listens`: speech is heard (VAD and ASR load), not typed."""
    sections = [settings.think, settings.speak]
    ids = []
    if listens:
        sections.append(settings.asr)
        ids.append(VAD_MODEL)
    if settings.speak.voice:  # an enrolled voice speaks through Kokoro
        sections.append(settings.speak.kokoro())
    ids += [value for section in sections for value in _strings(section.model_dump()) if places.models.known(value)]
    if settings.camera.enabled:  # presence finds faces with the face models
        ids += list(avatars.FACE_MODELS)
    return list(dict.fromkeys(ids + avatars.models_needed(places.state, settings.avatar.name)))


def _strings(tree) -> list[str]:
    """Every string value of a nested config dump ([speak] has a section per language)."""
    if isinstance(tree, dict):
        return [s for value in tree.values() for s in _strings(value)]
    return [tree] if isinstance(tree, str) else []
