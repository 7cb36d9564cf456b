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
from typing import TYPE_CHECKING, TextIO

import zmq

from runtime import engines
from runtime.core.bus import Bus
from runtime.core.config import AutoCapture, CaptureSource, ConsoleCapture, MicrophoneCapture, Settings
from runtime.core.paths import models_dir
from runtime.core.supervisor import ActorSpec, Supervisor, exit_now
from runtime.devices import sound
from runtime.store.models import ModelStore

if TYPE_CHECKING:
    from runtime.control.commands import Device

_LOGGER = logging.getLogger(__name__)

RESTART = 75
"""run_app's exit code when an operator's change needs a new process (see restart_process)."""


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
    """A function that loads the configured voice (called in the speak actor's thread)."""
    store = store or model_store(settings)
    return lambda: engines.build(settings.speak, store)


def vad_factory(settings: Settings, store: ModelStore | None = None) -> Callable:
    """A function making Silero detectors with given thresholds."""
    from runtime.engines.vad_silero import SileroVad

    store = store or model_store(settings)
    return lambda **kw: SileroVad(store.path("vad-silero", "silero_vad.onnx"), **kw)


def dialogue_factory(settings: Settings, store: ModelStore | None = None, persona: str | None = None,
                     current: Callable[[], Settings] | None = None) -> Callable:
    """A function that loads the configured LLM and returns a Dialogue (called in the think thread);
    the personas are those in force when it is called (`current`, for operators' changes)."""
    from runtime.dialogue.conversation import Dialogue

    cfg = settings.think
    store = store or model_store(settings)

    def make() -> Dialogue:
        now = current() if current else settings
        return Dialogue(engines.build(cfg, store), now.personas, persona or now.think.persona,
                        memory_tokens=cfg.memory_tokens, idle_reset_s=cfg.idle_reset_s,
                        max_reply_tokens=cfg.max_reply_tokens, max_input_tokens=cfg.max_input_tokens,
                        first_chunk_units=cfg.first_chunk_units)

    return make


def presentation_specs(settings: Settings, bus: Bus, *, on_idle=None,
                       current: Callable[[], Settings] | None = None) -> list[ActorSpec]:
    """Voice, speaker, face, recording and the idle watch, consumers first. Settings operators may
    change while running (avatar, voice, volume, mute) are read from `current` whenever an actor
    is made, so an actor restarted after a failure keeps them."""
    from runtime.actors.play import PlayActor
    from runtime.actors.render import RenderActor
    from runtime.actors.speak import SpeakActor
    from runtime.devices.display import open_display
    from runtime.face import avatars

    current = current or (lambda: settings)
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

    def face(name: str | None = None):
        return avatars.renderer(avatars.load_avatar(current(), name))

    specs.append(ActorSpec("render", lambda: RenderActor(
        "render", bus, face_factory=face, avatar_factory=face,
        display_factory=lambda: open_display(display.window, settings.avatar.resolution,
                                             fullscreen=display.fullscreen, hide_cursor=display.hide_cursor),
        fps=display.fps, publish_frames=bool(record.path),
        preview_fps=settings.api.preview_fps if settings.api.enabled else 0, **beat)))
    play = settings.play
    specs.append(ActorSpec("play", lambda: PlayActor(
        "play", bus, output_factory=functools.partial(sound.open_output, play.device),
        volume=current().play.volume, mute=current().play.mute, **beat)))
    store = model_store(settings)
    specs.append(ActorSpec("speak", lambda: SpeakActor(
        "speak", bus, engine_factory=lambda: engines.build(current().speak, store),
        voice_factory=lambda voice: engines.build(current().speak.model_copy(update={"voice": voice}), store),
        **beat)))
    return specs


def build_specs(settings: Settings, bus: Bus, *, stdin=None, stdout: TextIO | None = None,
                on_idle=None, device: Device | None = None) -> list[ActorSpec]:
    """The actors the config asks for, consumers first (so nothing published is lost); with a
    control plane (`device`), its actors come first and see every other actor start."""
    from runtime.actors.caption import CaptionActor
    from runtime.actors.think import ThinkActor

    beat = {"heartbeat_s": settings.bus.heartbeat_s}
    current = (lambda: device.settings) if device is not None else None
    specs = control_specs(device, bus) if device is not None else []
    specs += presentation_specs(settings, bus, on_idle=on_idle, current=current)
    if settings.caption.enabled:
        specs.append(ActorSpec("caption", lambda: CaptionActor("caption", bus, stream=stdout, **beat)))
    specs.append(ActorSpec("think", functools.partial(ThinkActor, "think", bus,
                                                      dialogue_factory=dialogue_factory(settings, current=current),
                                                      **beat)))
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


def control_device(settings: Settings, *, on_restart: Callable[[], None]) -> tuple[Settings, Device | None]:
    """The settings to run with (the config plus what operators applied over it, kept in the
    state directory) and the control plane's device when [remote] or [api] is on."""
    from runtime.control import desired
    from runtime.control.commands import Device

    effective, applied, store = desired.load_effective(settings)
    if effective.remote.type == "off" and not effective.api.enabled:
        return effective, None
    if effective.remote.type == "mqtt":
        from runtime.control.mqtt import password

        password(effective.remote)  # a missing secret stops the start before any model loads
    if effective.api.enabled:
        from runtime.actors.api import api_token

        api_token(effective.api)
    return effective, Device(settings, effective, applied, store, on_restart=on_restart,
                             models=model_store(settings))


def control_specs(device: Device, bus: Bus) -> list[ActorSpec]:
    """The fleet link and the REST API, as configured."""
    settings = device.settings
    beat = {"heartbeat_s": settings.bus.heartbeat_s}
    specs = []
    if settings.remote.type == "mqtt":
        from runtime.actors.remote import RemoteActor

        specs.append(ActorSpec("remote", functools.partial(RemoteActor, "remote", bus, device=device, **beat)))
    if settings.api.enabled:
        from runtime.actors.api import ApiActor

        specs.append(ActorSpec("api", functools.partial(ApiActor, "api", bus, device=device, **beat)))
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
            f"output: {', '.join(outputs)}"]


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
    stop, restart = threading.Event(), threading.Event()
    settings, device = control_device(settings, on_restart=lambda: (restart.set(), stop.set()))
    context = zmq.Context()
    bus = Bus(settings.bus.pub_endpoint, settings.bus.sub_endpoint, hwm=settings.bus.hwm, context=context)
    on_idle = stop.set if exit_when_idle else None
    specs = build(settings, bus, on_idle=on_idle) if build else build_specs(settings, bus, on_idle=on_idle,
                                                                             device=device)
    supervisor = Supervisor(bus, specs, settings.supervisor)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for line in describe_io(settings):
            print(line, file=sys.stderr, flush=True)
        supervisor.start()
        code = supervisor.run(stop)
        _LOGGER.info("stopping")
        return RESTART if restart.is_set() else code
    finally:
        clean = supervisor.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _LOGGER.info("peak memory %.0f MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        if clean:
            context.term()
        else:
            exit_now(3)


def restart_process() -> None:
    """Start this command again in this process (same pid, so systemd sees one service that
    reloaded): the new process reads the config file and the applied config afresh."""
    import os

    _LOGGER.warning("restarting: %s", " ".join(sys.orig_argv))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])  # noqa: S606 - our own command line
