"""What a Settings object names, as functions that load it: the engines, the voices, the dialogue.

Each factory returns a function that an actor calls in its own thread (a model loads where it
runs). The composition root (runtime.product) hands them to the actors; check-config and the
preflight (runtime.checks) load a few of them to see that they can.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable

from runtime import engines
from runtime.config import LANGUAGES, AutoCapture, CaptureSource, ConsoleCapture, MicrophoneCapture, Settings
from runtime.hardware import sound
from runtime.places import Places
from runtime.store.models import ModelStore

_LOGGER = logging.getLogger(__name__)


def model_store(settings: Settings) -> ModelStore:
    """The model store the settings name."""
    return Places.of(settings.paths).models


def resolve_capture(settings: Settings) -> CaptureSource:
    """The capture config to use: `auto` becomes the microphone when one exists, else the console."""
    capture = settings.capture
    if capture.type != AutoCapture().type:
        return capture
    if sound.has_any("input"):
        return MicrophoneCapture(type="microphone", echo_cancel=capture.echo_cancel)
    _LOGGER.info("no audio input; using typed input")
    return ConsoleCapture(type="console")


def asr_factory(settings: Settings, store: ModelStore | None = None) -> Callable:
    """A function that loads the configured ASR engine (called in the listen actor's thread)."""
    store = store or model_store(settings)
    return lambda: engines.build(settings.asr, store)


def tts_factory(settings: Settings, store: ModelStore | None = None) -> Callable:
    """A function that loads the voices of every language and persona (called in the speak actor's thread)."""
    places = Places.of(settings.paths)
    places = dataclasses.replace(places, models=store) if store is not None else places
    return lambda: build_voices(settings, places)


def build_voices(settings: Settings, places: Places):
    """The configured voice of each language (an enrolled voice, [speak] voice, replaces that of its
    language) plus the personas' pinned ones; one engine serves every voice it has (all Kokoro
    voices, stock and enrolled, share one model)."""
    from runtime.engines.voices import Voice, Voices
    from runtime.voice import bundle

    state, store = places.state, places.models
    loaded: list[tuple[object, object]] = []  # (section without its voice, engine)

    def voice(section, name: str = "") -> Voice:
        name = name or section.voice
        enrolled = bundle.load(state, name) if bundle.is_enrolled(state, name) else None
        if enrolled is not None:
            section = settings.speak.kokoro()
        general = section.model_copy(update={"voice": ""})
        engine = next((e for key, e in loaded if key == general and (enrolled or e.has_voice(name))), None)
        if engine is None:
            engine = engines.build(section if enrolled else section.model_copy(update={"voice": name}), store)
            loaded.append((general, engine))
        if enrolled is not None:
            engine.add_voice(name, enrolled.style)
        return Voice(engine, name)

    sections = {lang: getattr(settings.speak, lang) for lang in LANGUAGES}
    voices = {lang: voice(section) for lang, section in sections.items() if engines.module_of(section)}
    if settings.speak.voice:
        language = bundle.load(state, settings.speak.voice).language  # voice-unknown / voice-damaged first
        voices[language] = voice(settings.speak.kokoro(), settings.speak.voice)
    pinned = {(pid, lang): voice(sections[lang], name) for pid, persona in settings.personas.items()
              for lang, name in persona.voices.items() if engines.module_of(sections[lang])}
    greetings = {pid: dict(persona.greeting) for pid, persona in settings.personas.items()}
    return Voices(voices, pinned, greetings=greetings, persona=settings.think.persona)


def vad_factory(settings: Settings, store: ModelStore | None = None) -> Callable:
    """A function making Silero detectors with given thresholds."""
    return engines.vad(store or model_store(settings))


def turn_factory(settings: Settings, store: ModelStore | None = None) -> Callable | None:
    """A function that loads the turn model, or None (off, or not in the store: the words decide)."""
    from runtime.speech.turn import turn_factory as factory

    return factory(settings.listen, store or model_store(settings))


def dialogue_factory(settings: Settings, store: ModelStore | None = None, persona: str | None = None,
                     build: Callable = engines.build, current: Callable[[], Settings] | None = None) -> Callable:
    """A function that loads the configured LLM and returns a Dialogue (called in the think thread);
    the Dialogue refuses personas that do not fit the model's context; the personas are those in
    force when it is called (`current`, for operators' changes)."""
    from runtime.dialogue.conversation import Dialogue
    from runtime.dialogue.safety import SafetyCheck

    cfg = settings.think
    store = store or model_store(settings)

    def make() -> Dialogue:
        now = current() if current else settings
        return Dialogue(build(cfg, store), now.personas, persona or now.think.persona,
                        memory_tokens=cfg.memory_tokens, idle_reset_s=cfg.idle_reset_s,
                        max_reply_tokens=cfg.max_reply_tokens, max_input_tokens=cfg.max_input_tokens,
                        first_chunk_units=cfg.first_chunk_units, first_chunk_units_zh=cfg.first_chunk_units_zh,
                        safety=SafetyCheck(now.safety.phrases, now.safety.enabled))

    return make

