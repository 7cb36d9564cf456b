"""The composition root: the product's wiring from one Settings object.

It is the only module that knows which actors make up the product and which engine each uses:
it builds engines through the registry (runtime.engines.build), actor specs in start order
(consumers first, so nothing published is lost), and runs them under the supervisor. The
supervisor knows nothing about the product; nothing imports this module but the CLI and benches.
"""

from __future__ import annotations

import functools
import logging
import resource
import signal
import sys
import threading
from collections.abc import Callable
from importlib import import_module
from typing import TextIO

import zmq

from runtime import engines
from runtime.core.bus import Bus
from runtime.core.config import AutoCapture, CaptureSource, ConsoleCapture, MicrophoneCapture, Settings
from runtime.core.paths import models_dir
from runtime.core.supervisor import ActorSpec, Supervisor, exit_now
from runtime.devices import sound
from runtime.store.models import ModelStore

_LOGGER = logging.getLogger(__name__)


def model_store(settings: Settings) -> ModelStore:
    """The configured model store."""
    return ModelStore(models_dir(settings.paths.models))


def resolve_capture(settings: Settings) -> CaptureSource:
    """The capture config to use: `auto` becomes the microphone when one exists, else the console."""
    capture = settings.capture
    if capture.type != AutoCapture().type:
        return capture
    if sound.has_any("input"):
        return MicrophoneCapture(type="microphone")
    _LOGGER.info("no audio input; using typed input")
    return ConsoleCapture(type="console")


def asr_factory(settings: Settings, store: ModelStore | None = None) -> Callable:
    """A function that loads the configured ASR engine (called in the listen actor's thread)."""
    store = store or model_store(settings)
    return lambda: engines.build(settings.asr, store)


def tts_factory(settings: Settings, store: ModelStore | None = None) -> Callable:
    """A function that loads the voices of every language and persona (called in the speak actor's thread)."""
    store = store or model_store(settings)
    return lambda: build_voices(settings, store)


def build_voices(settings: Settings, store: ModelStore):
    """The configured voice of each language plus the personas' pinned ones; one engine serves
    every voice it has (all Kokoro voices share one model)."""
    from runtime.speech.voices import Voice, Voices

    loaded: list[tuple[object, object]] = []  # (section without its voice, engine)

    def voice(section, name: str = "") -> Voice:
        name = name or section.voice
        general = section.model_copy(update={"voice": ""})
        for key, engine in loaded:
            if key == general and engine.has_voice(name):
                return Voice(engine, name)
        engine = engines.build(section.model_copy(update={"voice": name}), store)
        loaded.append((general, engine))
        return Voice(engine, name)

    sections = {lang: getattr(settings.speak, lang) for lang in type(settings.speak).model_fields}
    voices = {lang: voice(section) for lang, section in sections.items() if section.ENGINE}
    pinned = {(pid, lang): voice(sections[lang], name) for pid, persona in settings.personas.items()
              for lang, name in persona.voices.items() if sections[lang].ENGINE}
    return Voices(voices, pinned)


def vad_factory(settings: Settings, store: ModelStore | None = None) -> Callable:
    """A function making Silero detectors with given thresholds."""
    from runtime.engines.vad_silero import SileroVad

    store = store or model_store(settings)
    return lambda **kw: SileroVad(store.path("vad-silero", "silero_vad.onnx"), **kw)


def dialogue_factory(settings: Settings, store: ModelStore | None = None, persona: str | None = None) -> Callable:
    """A function that loads the configured LLM and returns a Dialogue (called in the think thread)."""
    from runtime.dialogue.conversation import Dialogue
    from runtime.dialogue.safety import SafetyCheck

    cfg = settings.think
    store = store or model_store(settings)
    return lambda: Dialogue(engines.build(cfg, store), settings.personas, persona or cfg.persona,
                            memory_tokens=cfg.memory_tokens, idle_reset_s=cfg.idle_reset_s,
                            max_reply_tokens=cfg.max_reply_tokens, max_input_tokens=cfg.max_input_tokens,
                            first_chunk_units=cfg.first_chunk_units,
                            safety=SafetyCheck(settings.safety.phrases, settings.safety.enabled))


def presentation_specs(settings: Settings, bus: Bus, *, on_idle=None) -> list[ActorSpec]:
    """Voice, speaker, face, recording and the idle watch, consumers first."""
    from runtime.actors.play import PlayActor
    from runtime.actors.render import RenderActor
    from runtime.actors.speak import SpeakActor
    from runtime.devices.display import open_display
    from runtime.face import avatars

    beat = {"heartbeat_s": settings.bus.heartbeat_s}
    specs = []
    record = settings.record
    if record.path:
        from runtime.actors.record import RecordActor

        specs.append(ActorSpec("record", functools.partial(
            RecordActor, "record", bus, path=record.path, size=settings.avatar.resolution, fps=record.fps,
            include_input=record.include_input,
            input_timeline=not isinstance(resolve_capture(settings), ConsoleCapture), **beat)))
    if on_idle is not None:
        from runtime.actors.idle import IdleActor

        specs.append(ActorSpec("idle", functools.partial(IdleActor, "idle", bus, on_idle=on_idle, **beat)))
    display = settings.display
    specs.append(ActorSpec("render", functools.partial(
        RenderActor, "render", bus, face_factory=lambda: avatars.renderer(avatars.load_avatar(settings)),
        display_factory=lambda: open_display(display.window, settings.avatar.resolution,
                                             fullscreen=display.fullscreen, hide_cursor=display.hide_cursor),
        fps=display.fps, publish_frames=bool(record.path), **beat)))
    play = settings.play
    specs.append(ActorSpec("play", functools.partial(
        PlayActor, "play", bus, output_factory=functools.partial(sound.open_output, play.device),
        volume=play.volume, mute=play.mute, **beat)))
    specs.append(ActorSpec("speak", functools.partial(SpeakActor, "speak", bus,
                                                      engine_factory=tts_factory(settings), **beat)))
    return specs


def build_specs(settings: Settings, bus: Bus, *, stdin=None, stdout: TextIO | None = None,
                on_idle=None) -> list[ActorSpec]:
    """The actors the config asks for, consumers first (so nothing published is lost)."""
    from runtime.actors.caption import CaptionActor
    from runtime.actors.think import ThinkActor

    beat = {"heartbeat_s": settings.bus.heartbeat_s}
    specs = presentation_specs(settings, bus, on_idle=on_idle)
    if settings.caption.enabled:
        specs.append(ActorSpec("caption", lambda: CaptionActor("caption", bus, stream=stdout, **beat)))
    specs.append(ActorSpec("think", functools.partial(ThinkActor, "think", bus,
                                                      dialogue_factory=dialogue_factory(settings), **beat)))
    capture = resolve_capture(settings)
    if not isinstance(capture, ConsoleCapture):
        from runtime.actors.listen import ListenActor

        store = model_store(settings)
        specs.append(ActorSpec("listen", functools.partial(
            ListenActor, "listen", bus, asr_factory=asr_factory(settings, store),
            vad_factory=vad_factory(settings, store), settings=settings.listen, **beat)))
    module, name = capture.SOURCE.split(":")
    source = getattr(import_module(module), name)
    specs.append(ActorSpec("capture", functools.partial(source.from_config, "capture", bus, capture,
                                                        stdin=stdin, **beat)))
    return specs


def describe_io(settings: Settings) -> list[str]:
    """Where input comes from and where output goes, for the start-up banner."""
    from runtime.devices.display import display_available

    window = settings.display.window == "on" or (settings.display.window == "auto" and display_available())
    speaker = settings.play.device != "none" and sound.has_any("output")
    outputs = ["speaker" if speaker else "silent clock (no speaker)", "window" if window else "no window"]
    if settings.record.path:
        outputs.append(f"recording {settings.record.path}")
    if settings.caption.enabled:
        outputs.append("captions on this terminal")
    return [f"input:  {resolve_capture(settings).describe()}", f"answer: {_describe_think(settings)}",
            f"voices: {describe_voices(settings)}", f"output: {', '.join(outputs)}"]


def describe_voices(settings: Settings) -> str:
    """The voice of each language, e.g. `en: piper tts-piper-joe, zh: kokoro zf_xiaoxiao`."""
    parts = []
    for lang in type(settings.speak).model_fields:
        section = getattr(settings.speak, lang)
        parts.append(f"{lang}: {section.type} {section.voice}" if section.ENGINE else f"{lang}: captions only")
    return ", ".join(parts)


def _describe_think(settings: Settings) -> str:
    cfg = settings.think
    persona = settings.personas[cfg.persona]
    if cfg.type == "echo":
        return f"echo (repeats the visitor) as {persona.name}"
    return f"{cfg.model} via llama.cpp as {persona.name} ({cfg.persona})"


def run_app(settings: Settings, *, build: Callable[..., list[ActorSpec]] | None = None,
            exit_when_idle: bool = False) -> int:
    """Run the product until SIGINT/SIGTERM; returns the exit code (raises faults for the CLI)."""
    root = logging.getLogger()
    root.setLevel(min(root.level, logging.getLevelName(settings.log.level.upper())))
    context = zmq.Context()
    bus = Bus(settings.bus.pub_endpoint, settings.bus.sub_endpoint, hwm=settings.bus.hwm, context=context)
    stop = threading.Event()
    specs = (build or build_specs)(settings, bus, on_idle=stop.set if exit_when_idle else None)
    supervisor = Supervisor(bus, specs, settings.supervisor)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for line in describe_io(settings):
            print(line, file=sys.stderr, flush=True)
        supervisor.start()
        code = supervisor.run(stop)
        _LOGGER.info("stopping")
        return code
    finally:
        clean = supervisor.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _LOGGER.info("peak memory %.0f MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        if clean:
            context.term()
        else:
            exit_now(3)
