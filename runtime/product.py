"""The composition root: the product's wiring from one Settings object.

It is the only module that knows which actors make up the product and which engine each uses:
it builds engines through the registry (runtime.engines.build), actor specs in start order
(consumers first, so nothing published is lost), and runs them under the supervisor. The
supervisor knows nothing about the product; nothing imports this module but the CLI and benches.
"""

from __future__ import annotations

import dataclasses
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

from runtime import engines
from runtime.config import (
    LANGUAGES,
    AutoCapture,
    CaptureSource,
    ConsoleCapture,
    FileCapture,
    MicrophoneCapture,
    Settings,
)
from runtime.core.bus import Bus
from runtime.core.errors import RuntimeFault
from runtime.core.supervisor import ActorSpec, Supervisor, exit_now, lingering_threads, peak_rss_mb
from runtime.devices import sound
from runtime.needed import required_models
from runtime.places import Places
from runtime.store.models import ModelStore
from runtime.store.recordings import Recordings, Retention

if TYPE_CHECKING:
    from runtime.control.commands import Device

_LOGGER = logging.getLogger(__name__)

RESTART = 75
"""run_app's exit code when an operator's change needs a new process (see restart_process)."""


def model_store(settings: Settings) -> ModelStore:
    """The model store the settings name."""
    return Places.of(settings.paths).models


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
    return Voices(voices, pinned)


def vad_factory(settings: Settings, store: ModelStore | None = None) -> Callable:
    """A function making Silero detectors with given thresholds."""
    return engines.vad(store or model_store(settings))


def turn_factory(settings: Settings, store: ModelStore | None = None) -> Callable | None:
    """A function that loads the turn model, or None (off, or not in the store: the words decide)."""
    from runtime.speech.turn import turn_factory as factory

    return factory(settings.listen, store or model_store(settings))


def turn_note(settings: Settings, store: ModelStore) -> str:
    """check-config's word on the turn model when it is on but cannot be used ("" when it can)."""
    from runtime.speech.turn import TURN_FILE, TURN_MODEL, turn_model_state

    code, detail = turn_model_state(store) if settings.listen.turn_model else ("ok", "")
    return "" if code == "ok" else (f"[{code}] the turn model {TURN_MODEL}/{TURN_FILE} {detail}: the end of what "
                                    f"the visitor says is judged from the words alone; run `edge-talker models "
                                    f"fetch {TURN_MODEL}` (or set [listen] turn_model = false)")


def check_models(settings: Settings, places: Places) -> None:
    """Refuse to start, naming every missing or corrupt model at once, before any model loads (the
    optional turn model: refused when damaged, a warning when missing)."""
    listens = not isinstance(resolve_capture(settings), ConsoleCapture)
    places.models.require(required_models(settings, places, listens=listens))
    if listens:
        turn_factory(settings, places.models)
    if settings.speak.voice:
        from runtime.voice import bundle

        bundle.load(places.state, settings.speak.voice)  # voice-unknown / -damaged now


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
                        first_chunk_units=cfg.first_chunk_units,
                        safety=SafetyCheck(now.safety.phrases, now.safety.enabled))

    return make


def measure_personas(settings: Settings, store: ModelStore) -> str:
    """Check that every persona fits the model's context, with the model's own tokenizer (its
    vocabulary only: about a second); returns what was measured against, for check-config."""
    engine_module = engines.module_of(settings.think)
    if not hasattr(engine_module, "tokenizer"):
        return ""
    engine = dialogue_factory(settings, store, build=engine_module.tokenizer)().engine
    return f"every persona fits the {engine.n_ctx}-token context of {settings.think.model}"


def check_servers(settings: Settings) -> str:
    """check-config's look at the servers the engines use (a Wyoming ASR server, an
    OpenAI-compatible LLM server):
    they answer; returns what was checked ("" when no engine uses a server)."""
    found = []
    for section in (settings.asr, settings.think, *(getattr(settings.speak, lang) for lang in LANGUAGES)):
        check = getattr(engines.module_of(section), "check", None)
        found.append(check(section) if check else "")
    return "; ".join(filter(None, found))


def check_applied(settings: Settings, places: Places) -> str:
    """check-config's look at what operators applied (applied-config.json in the state directory):
    validated with the config file under it and checked as the kiosk would start with it; a fault
    names that document. Returns what was checked ("" when nothing is applied)."""
    from runtime.control import desired
    from runtime.core.errors import ConfigFault

    store = desired.AppliedStore(places.state)
    applied = store.load()
    if not applied.overlay:
        return ""
    effective = desired.effective_in(places, settings, applied.overlay, str(store.path))
    try:
        check_models(effective, places)
        measure_personas(effective, places.models)
    except RuntimeFault as fault:
        raise ConfigFault(fault.code if isinstance(fault, ConfigFault) else "config-applied-invalid",
                          f"{store.path} (version {applied.version!r}, applied by operators): [{fault.code}] "
                          f"{fault.message}", f"{fault.hint}; or apply a corrected document (config.apply), or "
                          f"delete {store.path} to run with the config file alone") from fault
    return f"{store.path} (version {applied.version!r}) is valid over it"


DEMO = Retention(segment_s=120.0, max_file_mb=100.0, keep_files=3, keep_mb=300.0)
"""Demo clips on a box with no window: the newest three, two minutes each at most."""


def recordings(settings: Settings, places: Places) -> Recordings | None:
    """Where the recording goes, or None when nothing is recorded (the default with a window,
    and always under systemd unless configured)."""
    from runtime.core.systemd import under_systemd
    from runtime.devices.display import display_available

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
    from runtime.devices.display import open_display
    from runtime.face import avatars

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
        fps=display.fps, publish_frames=recording is not None,
        preview_fps=settings.api.preview_fps if settings.api.enabled else 0, **beat)))
    play = settings.play
    specs.append(ActorSpec("play", lambda: PlayActor(
        "play", bus, output_factory=functools.partial(sound.open_output, play.device),
        volume=current().play.volume, mute=current().play.mute, **beat)))
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
    from runtime.devices.camera import open_camera
    from runtime.face import avatars

    cam = settings.camera
    store = store or model_store(settings)
    return ActorSpec("presence", functools.partial(
        PresenceActor, "presence", bus,
        camera_factory=camera_factory or functools.partial(open_camera, cam.source, cam.width, cam.height),
        detector_factory=lambda: avatars.face_models(store=store), settings=settings.presence,
        fps=cam.fps, mirrored=cam.mirrored, heartbeat_s=settings.bus.heartbeat_s))


def check_camera(settings: Settings) -> str:
    """check-config's look at [camera]: the source opens and gives a frame (camera-* faults);
    "" when the camera is off."""
    from runtime.devices.camera import open_camera

    cam = settings.camera
    if not cam.enabled:
        return ""
    camera = open_camera(cam.source, cam.width, cam.height)
    camera.open()
    try:
        return f"the camera ({camera.name}) opens"
    finally:
        camera.close()


def preflight(settings: Settings, places: Places, *, personas: bool = True) -> None:
    """Refuse settings the kiosk could not start with, before they are accepted: the secrets they
    name, every model and device they need, and (personas=True) every persona measured against the
    model's context with its own tokenizer."""
    if settings.remote.type == "mqtt":
        from runtime.control.mqtt import password

        password(settings.remote)
    if settings.api.enabled:
        from runtime.actors.api import api_token

        api_token(settings.api)
    capture = settings.capture
    if isinstance(capture, MicrophoneCapture) and not sound.has_any("input"):
        from runtime.core.errors import CaptureFault

        raise CaptureFault("capture-no-device", "[capture] type = \"microphone\" but this kiosk has no sound input",
                           "use type = \"auto\" (typed input when there is no microphone), or attach one")
    if isinstance(capture, FileCapture):
        from runtime.speech.audio import read_audio

        read_audio(capture.path, report=False)  # audio-file-missing, -too-long, ... as the start would say
    check_models(settings, places)
    if personas:
        measure_personas(settings, places.models)


def control_device(settings: Settings, *, on_restart: Callable[[], None],
                   places: Places | None = None) -> tuple[Settings, Device | None]:
    """The settings to run with (the config plus what operators applied over it, kept in the
    state directory) and the control plane's device when [remote] or [api] is on; a document on
    trial gets its safety net (runtime.control.trial). `places`: else those the settings name."""
    from runtime.control import desired
    from runtime.control.commands import Device
    from runtime.control.trial import Trial

    places = places or Places.of(settings.paths)
    effective, applied, store = desired.load_effective_in(places, settings)
    if effective.remote.type == "off" and not effective.api.enabled:
        return effective, None
    for attempt in range(3):
        try:
            preflight(effective, places, personas=False)  # a missing secret stops the start before any model loads
            break
        except RuntimeFault as fault:
            if not applied.overlay or attempt == 2:
                raise
            applied = store.roll_back(applied, fault.render())
            effective = desired.effective_in(places, settings, applied.overlay) if applied.overlay else settings
    device = Device(settings, places, effective, applied, store, on_restart=on_restart,
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
    from runtime.devices.display import display_available

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
        if trial is not None and trial.failed(err.render(), at_start=not ready):
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
                print(fault.render(), file=sys.stderr, flush=True)
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
