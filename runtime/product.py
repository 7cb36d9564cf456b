"""The composition root: the product's wiring from one Settings object.

It is the only module that knows which actors make up the product and which engine each uses:
it builds engines through the registry (runtime.engines.build), actor specs in start order
(consumers first, so nothing published is lost), and runs them under the supervisor. The
supervisor knows nothing about the product; nothing imports this module but the CLI and benches.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import zmq

from runtime.checks import preflight
from runtime.config import (
    LANGUAGES,
    ConsoleCapture,
    Settings,
)
from runtime.core.bus import Bus
from runtime.core.errors import RuntimeFault
from runtime.core.supervisor import ActorSpec, Supervisor, exit_now, lingering_threads, peak_rss_mb
from runtime.factories import (
    asr_factory,
    build_voices,
    dialogue_factory,
    model_store,
    resolve_capture,
    turn_factory,
    vad_factory,
)
from runtime.hardware import sound
from runtime.places import Places
from runtime.store.models import ModelStore
from runtime.store.recordings import Recordings, Retention

if TYPE_CHECKING:
    from runtime.control.commands import Device

_LOGGER = logging.getLogger(__name__)

RESTART = 75
"""run_app's exit code when an operator's change needs a new process (see restart_process)."""


DEMO = Retention(segment_s=120.0, max_file_mb=100.0, keep_files=3, keep_mb=300.0)
"""Demo clips on a box with no window: the newest three, two minutes each at most."""


def recordings(settings: Settings, places: Places) -> Recordings | None:
    """Where the recording goes, or None when nothing is recorded (the default with a window,
    and always under systemd unless configured)."""
    from runtime.core.systemd import under_systemd
    from runtime.hardware.display import display_available

    record = settings.record
    retention = Retention(segment_s=record.segment_s, max_file_mb=record.max_file_mb, keep_files=record.keep_files,
                          keep_mb=record.keep_mb)
    if record.path:
        return Recordings(Path(record.path).expanduser(), retention)
    if record.directory:
        return Recordings(Path(record.directory).expanduser(), retention, directory=True)
    headless = settings.display.window == "off" or (settings.display.window == "auto" and not display_available())
    # A person trying it at a terminal (make run) gets a clip to look at; a service or a script does not.
    at_terminal = sys.stdin is not None and sys.stdin.isatty()
    if record.demo and headless and at_terminal and not under_systemd():
        return Recordings(places.recordings, DEMO, directory=True)
    return None


def presentation_specs(settings: Settings, bus: Bus, places: Places, *, on_idle=None,
                       current: Callable[[], Settings] | None = None,
                       recording: Recordings | None = None) -> list[ActorSpec]:
    """Voice, speaker, face, recording and the idle watch, consumers first. Settings operators may
    change while running (avatar, voice, volume, mute) are read from `current` whenever an actor
    is made, so an actor restarted after a failure keeps them."""
    from runtime.actors.play import PlayActor
    from runtime.actors.render import RenderActor
    from runtime.actors.speak import SpeakActor
    from runtime.face import avatars
    from runtime.hardware.display import open_display

    current = current or (lambda: settings)
    beat = {"heartbeat_s": settings.bus.heartbeat_s}
    specs = []
    record = settings.record
    if recording is not None:
        from runtime.actors.record import RecordActor

        specs.append(ActorSpec("record", functools.partial(
            RecordActor, "record", bus, recordings=recording, size=settings.avatar.resolution, fps=record.fps,
            include_input=record.include_input,
            input_timeline=not isinstance(resolve_capture(settings), ConsoleCapture), **beat),
            stop_budget_s=max(3.0, settings.supervisor.stop_timeout_s)))
    if on_idle is not None:
        from runtime.actors.idle import IdleActor

        specs.append(ActorSpec("idle", functools.partial(IdleActor, "idle", bus, on_idle=on_idle, **beat)))
    display = settings.display

    def face(name: str | None = None):
        return avatars.renderer(avatars.load_avatar_in(places, current().avatar, name))

    specs.append(ActorSpec("render", lambda: RenderActor(
        "render", bus, face_factory=face, avatar_factory=face,
        display_factory=lambda: open_display(display.window, settings.avatar.resolution,
                                             fullscreen=display.fullscreen, hide_cursor=display.hide_cursor),
        fps=display.fps, thinking_fps=display.thinking_fps if recording is None else display.fps,
        publish_frames=recording is not None,
        preview_fps=settings.api.preview_fps if settings.api.enabled else 0, **beat)))
    play = settings.play
    echo_reference = bool(getattr(resolve_capture(settings), "echo_cancel", False))  # the microphone's canceller
    specs.append(ActorSpec("play", lambda: PlayActor(
        "play", bus, output_factory=functools.partial(sound.open_output, play.device),
        volume=current().play.volume, mute=current().play.mute, echo_reference=echo_reference, **beat)))
    # A voice switched by an operator is already in current() when SetVoice arrives: rebuild from it.
    specs.append(ActorSpec("speak", lambda: SpeakActor(
        "speak", bus, engine_factory=lambda: build_voices(current(), places),
        voice_factory=lambda _voice: build_voices(current(), places), **beat)))
    return specs


def build_specs(settings: Settings, bus: Bus, *, stdin=None, stdout: TextIO | None = None,
                on_idle=None, device: Device | None = None, recording: Recordings | None = None,
                places: Places | None = None) -> list[ActorSpec]:
    """The actors the config asks for, consumers first (so nothing published is lost); with a
    control plane (`device`), its actors come first and see every other actor start. `places`:
    where the files are (else the device's, else those the settings name)."""
    from runtime.actors.caption import CaptionActor
    from runtime.actors.think import ThinkActor

    places = places or (device.places if device is not None else Places.of(settings.paths))
    beat = {"heartbeat_s": settings.bus.heartbeat_s}
    current = (lambda: device.settings) if device is not None else None
    specs = control_specs(device, bus) if device is not None else []
    specs += presentation_specs(settings, bus, places, on_idle=on_idle, current=current, recording=recording)
    if captions_on(settings):
        specs.append(ActorSpec("caption", lambda: CaptionActor("caption", bus, stream=stdout, **beat)))
    camera = settings.camera.enabled
    specs.append(ActorSpec("think", functools.partial(ThinkActor, "think", bus,
                                                      dialogue_factory=dialogue_factory(settings, places.models,
                                                                                        current=current),
                                                      greet=camera and settings.presence.greet,
                                                      first_audio_hold_s=settings.think.first_audio_hold_s,
                                                      greet_language=greet_language(settings), **beat)))
    if camera:
        specs.append(presence_spec(settings, bus, store=places.models))
    capture = resolve_capture(settings)
    if not isinstance(capture, ConsoleCapture):
        from runtime.actors.listen import ListenActor

        store = places.models
        specs.append(ActorSpec("listen", functools.partial(
            ListenActor, "listen", bus, asr_factory=asr_factory(settings, store),
            vad_factory=vad_factory(settings, store), turn_factory=turn_factory(settings, store),
            settings=settings.listen, **beat)))
    if not capture.SOURCE:  # [capture] type = "bus": another process publishes the audio
        return specs
    module, name = capture.SOURCE.split(":")
    source = getattr(import_module(module), name)
    gate = {"require_presence": True} if camera and settings.presence.require_presence else {}
    specs.append(ActorSpec("capture", functools.partial(source.from_config, "capture", bus, capture,
                                                        stdin=stdin, **gate, **beat)))
    return specs


def greet_language(settings: Settings) -> str:
    """The language a visitor is greeted in when the persona answers in theirs: [presence]
    language, else [listen] language, else English."""
    language = settings.presence.language or settings.listen.language
    return language if language in LANGUAGES else "en"


def presence_spec(settings: Settings, bus: Bus, camera_factory: Callable | None = None,
                  store: ModelStore | None = None) -> ActorSpec:
    """The presence actor on the [camera] (camera_factory: another camera at the hardware edge;
    store: the model store, else the one the settings name)."""
    from runtime.actors.presence import PresenceActor
    from runtime.face import avatars
    from runtime.hardware.camera import open_camera

    cam = settings.camera
    store = store or model_store(settings)
    return ActorSpec("presence", functools.partial(
        PresenceActor, "presence", bus,
        camera_factory=camera_factory or functools.partial(open_camera, cam.source, cam.width, cam.height),
        detector_factory=lambda: avatars.face_models(store=store), settings=settings.presence,
        fps=cam.fps, mirrored=cam.mirrored, heartbeat_s=settings.bus.heartbeat_s))


def control_device(settings: Settings, *, on_restart: Callable[[], None],
                   places: Places | None = None) -> tuple[Settings, Device | None]:
    """The settings to run with (the config plus what operators applied over it, kept in the
    state directory) and the control plane's device when [remote] or [api] is on; a document on
    trial gets its safety net (runtime.control.trial). `places`: else those the settings name."""
    from runtime.control import desired
    from runtime.control.commands import Device
    from runtime.control.trial import Trial

    places = places or Places.of(settings.paths)
    effective, applied, applied_store = desired.load_effective_in(places, settings)
    if effective.remote.type == "off" and not effective.api.enabled:
        return effective, None
    for attempt in range(3):
        try:
            preflight(effective, places, personas=False)  # a missing secret stops the start before any model loads
            break
        except RuntimeFault as fault:
            if not applied.overlay or attempt == 2:
                raise
            applied = applied_store.roll_back(applied, fault.as_text())
            effective = desired.effective_in(places, settings, applied.overlay) if applied.overlay else settings
    device = Device(settings, places, effective, applied, applied_store, on_restart=on_restart,
                    preflight=functools.partial(preflight, places=places))
    device.trial = Trial(device, effective.supervisor.confirm_s, needs_link=effective.remote.type == "mqtt",
                         on_rollback=on_restart)
    return effective, device


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


def captions_on(settings: Settings) -> bool:
    """Captions print the visitor's words: on a terminal by default, but under systemd stdout is
    the journal, so there only when the config asks for them explicitly."""
    from runtime.core.systemd import under_systemd

    caption = settings.caption
    return caption.enabled and (not under_systemd() or "enabled" in caption.model_fields_set)


def describe_io(settings: Settings, recording: Recordings | None = None) -> list[str]:
    """Where input comes from and where output goes, for the start-up banner."""
    from runtime.hardware.display import display_available

    window = settings.display.window == "on" or (settings.display.window == "auto" and display_available())
    speaker = settings.play.device != "none" and sound.has_any("output")
    outputs = ["speaker" if speaker else "silent clock (no speaker)", "window" if window else "no window"]
    if recording is not None and recording.retention == DEMO:
        outputs.append(f"demo clips in {recording.target} (newest {DEMO.keep_files} kept, "
                       f"{DEMO.segment_s / 60:g} min each; [record] demo = false to stop)")
    elif recording is not None:
        outputs.append(f"recording {recording.target}")
    if captions_on(settings):
        outputs.append("captions on this terminal")
    camera = settings.camera
    seen = ([f"camera: {camera.source} at {camera.fps:g} fps, presence only (no frame is kept)"
             + ("; speech heard only while a visitor is present" if settings.presence.require_presence else "")]
            if camera.enabled else [])
    return [f"input:  {resolve_capture(settings).describe()}", *seen, f"answer: {_describe_think(settings)}",
            f"voices: {settings.speak.describe()}", f"output: {', '.join(outputs)}"]


def _describe_think(settings: Settings) -> str:
    cfg = settings.think
    persona = settings.personas[cfg.persona]
    if cfg.type == "echo":
        return f"echo (repeats the visitor) as {persona.name}"
    return f"{cfg.model} via llama.cpp as {persona.name} ({cfg.persona})"


def run_app(settings: Settings, *, build: Callable[..., list[ActorSpec]] | None = None,
            exit_when_idle: bool = False, places: Places | None = None) -> int:
    """Run the product until SIGINT/SIGTERM; returns the exit code (raises faults for the CLI).
    `places`: where the files are (else those the settings name, resolved here once)."""
    root = logging.getLogger()
    root.setLevel(min(root.level, logging.getLevelName(settings.log.level.upper())))
    places = places or Places.of(settings.paths)
    lock = places.lock()  # held until the process ends
    stop, restart = threading.Event(), threading.Event()
    settings, device = control_device(settings, on_restart=lambda: (restart.set(), stop.set()), places=places)
    recording = recordings(settings, places)
    if recording is not None:
        recording.check()  # a target that cannot be written is refused before any model loads
    context = zmq.Context()
    bus = Bus(settings.bus.pub_endpoint, settings.bus.sub_endpoint, hwm=settings.bus.hwm, context=context)
    on_idle = stop.set if exit_when_idle else None
    specs = build(settings, bus, on_idle=on_idle) if build else build_specs(
        settings, bus, on_idle=on_idle, device=device, recording=recording, places=places)
    supervisor = Supervisor(bus, specs, settings.supervisor)
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    fault: RuntimeFault | None = None
    code = 3  # unless supervision ends normally or with a fault
    trial = device.trial if device is not None else None
    ready = False
    try:
        for line in describe_io(settings, recording):
            print(line, file=sys.stderr, flush=True)
        if trial is not None:
            trial.start()
        if supervisor.start(stop):  # SIGINT while models load cancels the start
            ready = True
            if trial is not None:
                trial.actors_ready()
            code = supervisor.run(stop)
        else:
            code = 0
        _LOGGER.info("stopping")
        if supervisor.degraded():  # e.g. asked to record, and the recording stopped (reported then)
            code = 1
            print(f"error: finished without {', '.join(f'{n} ({c})' for n, c in supervisor.degraded().items())}",
                  file=sys.stderr, flush=True)
        if restart.is_set() or (code not in (0, RESTART) and trial is not None
                                and trial.failed(f"the kiosk stopped with exit code {code}")):
            code = RESTART
        return code
    except RuntimeFault as err:
        fault, code = err, err.exit_code
        if trial is not None and trial.failed(err.as_text(), at_start=not ready):
            fault, code = None, RESTART  # the last good document is back: start again with it
            return code
        raise
    finally:
        if trial is not None:
            if code in (0, RESTART):
                trial.release()
            else:
                trial.stop()
        clean = supervisor.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _LOGGER.info("peak memory %.0f MB", peak_rss_mb())
        if clean:
            context.term()
        lock.close()
        if code == RESTART and not clean:
            restart_process()  # exec: threads stuck in native code go with the old image
        lingering = lingering_threads()
        if not clean or (lingering and code != RESTART):  # a restart execs over lingering threads
            if fault is not None:  # say why before leaving without the usual unwinding
                print(fault.as_text(), file=sys.stderr, flush=True)
            if not clean:
                exit_now(fault.exit_code if fault is not None else _unclean_exit_code(supervisor, code))
            # Every actor stopped and everything is written; only work nobody waits for is left
            # (a decode inside native code): leave without unwinding the interpreter under it.
            exit_now(code, f"stopped; not waiting for {', '.join(lingering)}")


def _unclean_exit_code(supervisor: Supervisor, code: int | None) -> int:
    """The exit code when threads outlived the stop budget: a requested stop stays a success (0)
    when those threads only compute (nothing is lost: under CPU load one token or one sentence can
    outlast the budget); anything else left running, or a failed run, is 3."""
    running = [actor for actor in supervisor.actors if actor.alive]
    if code == 0 and all(actor.abandon_on_stop for actor in running):
        _LOGGER.warning("left %s mid-computation at the stop budget; nothing was lost",
                        ", ".join(actor.name for actor in running))
        return 0
    return 3


def restart_process() -> None:
    """Start this command again in this process (same pid, so systemd sees one service that
    reloaded): the new process reads the config file and the applied config afresh."""

    _LOGGER.warning("restarting: %s", " ".join(sys.orig_argv))
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])  # noqa: S606 - our own command line
