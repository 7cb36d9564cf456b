"""Which actors and engines the configuration asks for, in start order (consumers first)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import TextIO

from runtime.app import ActorSpec
from runtime.bus import Bus
from runtime.config import (
    AutoCapture,
    ConsoleCapture,
    FileCapture,
    MicrophoneCapture,
    Settings,
    SherpaAsr,
    WhisperAsr,
)
from runtime.models import ModelStore
from runtime.paths import models_dir

_LOGGER = logging.getLogger(__name__)


def resolve_capture(settings: Settings):
    """The capture config to use: `auto` becomes the microphone when one exists, else the console."""
    capture = settings.capture
    if not isinstance(capture, AutoCapture):
        return capture
    try:
        from runtime import sound

        if sound.devices("input"):
            return MicrophoneCapture(type="microphone")
    except (OSError, ImportError) as err:  # no PortAudio library: no microphone either
        _LOGGER.info("no audio input (%s); using typed input", err)
    return ConsoleCapture(type="console")


def model_path(store: ModelStore, name: str) -> Path:
    """A model given as a manifest id (verified in the store) or as a filesystem path."""
    if any(m.id == name for m in store.manifest.model):
        return store.resolve(name)
    return Path(name).expanduser()


def asr_factory(settings: Settings, store: ModelStore | None = None):
    """A function that loads the configured ASR engine (called in the listen actor's thread)."""
    cfg = settings.asr
    store = store or ModelStore(models_dir(settings.paths.models))
    if isinstance(cfg, WhisperAsr):
        from runtime.engines.asr_whisper import WhisperEngine

        return lambda: WhisperEngine(model_path(store, cfg.model), compute_type=cfg.compute_type,
                                     threads=cfg.threads, beam_size=cfg.beam_size,
                                     languages=tuple(cfg.languages), device=cfg.device)
    assert isinstance(cfg, SherpaAsr)
    from runtime.engines.asr_sherpa import SherpaEngine

    return lambda: SherpaEngine(cfg.kind, {k: Path(v) for k, v in cfg.files.items()}, Path(cfg.tokens),
                                threads=cfg.threads, language=cfg.language)


def vad_factory(settings: Settings, store: ModelStore | None = None):
    """A function making Silero detectors with given thresholds."""
    from runtime.engines.vad_silero import SileroVad

    store = store or ModelStore(models_dir(settings.paths.models))
    return lambda **kw: SileroVad(store.path("vad-silero", "silero_vad.onnx"), **kw)


def dialogue_factory(settings: Settings, store: ModelStore | None = None, persona: str | None = None):
    """A function that loads the configured LLM and returns a Dialogue (called in the think thread)."""
    from runtime.config import LlamaThink
    from runtime.dialogue import Dialogue

    cfg = settings.think
    store = store or ModelStore(models_dir(settings.paths.models))

    def make() -> Dialogue:
        if isinstance(cfg, LlamaThink):
            from runtime.engines.llm_llamacpp import LlamaEngine

            path = model_path(store, cfg.model)
            if path.is_dir():
                path = next(iter(sorted(path.glob("*.gguf"))), path)
            engine = LlamaEngine(path, n_ctx=cfg.n_ctx, n_threads=cfg.n_threads,
                                 n_gpu_layers=cfg.n_gpu_layers, temperature=cfg.temperature, top_p=cfg.top_p,
                                 seed=cfg.seed)
            return Dialogue(engine, settings.personas, persona or cfg.persona, memory_tokens=cfg.memory_tokens,
                            idle_reset_s=cfg.idle_reset_s, max_reply_tokens=cfg.max_reply_tokens,
                            max_input_tokens=cfg.max_input_tokens, first_chunk_units=cfg.first_chunk_units)
        from runtime.engines.llm_echo import EchoEngine

        quiet = {k: p.model_copy(update={"greeting": {}}) for k, p in settings.personas.items()}
        return Dialogue(EchoEngine(cfg.prefix), quiet, persona or cfg.persona)

    return make


def tts_factory(settings: Settings, store: ModelStore | None = None):
    """A function that loads the configured voice (called in the speak actor's thread)."""
    from runtime.engines.tts_piper import PiperEngine

    cfg = settings.speak
    store = store or ModelStore(models_dir(settings.paths.models))

    def make() -> PiperEngine:
        path = model_path(store, cfg.voice)
        if path.is_dir():
            path = next(iter(sorted(path.glob("*.onnx"))), path)
        return PiperEngine(path, speaker_id=None if cfg.speaker_id < 0 else cfg.speaker_id,
                           length_scale=cfg.length_scale or None, noise_scale=cfg.noise_scale or None,
                           noise_w_scale=cfg.noise_w_scale or None, volume=cfg.volume)

    return make


def output_factory(settings: Settings):
    """A function opening the speaker, or the silent clock when there is none."""
    from runtime import sound
    from runtime.errors import CaptureFault

    device = settings.play.device

    def make(fill):
        if device == "none":
            return sound.SilentOutput(None, fill)
        try:
            return sound.OutputDevice(device or None, fill)
        except (CaptureFault, OSError) as err:
            if device:
                raise
            _LOGGER.info("no speaker (%s); the playback clock runs silently", str(err).splitlines()[0])
            return sound.SilentOutput(None, fill)

    return make


def presentation_specs(settings: Settings, bus: Bus, *, on_idle=None) -> list[ActorSpec]:
    """Voice, speaker, face, recording and the idle watch, consumers first."""
    from runtime.actors.play import PlayActor
    from runtime.actors.render import RenderActor
    from runtime.actors.speak import SpeakActor
    from runtime.display import open_display
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
    specs.append(ActorSpec("play", functools.partial(PlayActor, "play", bus, output_factory=output_factory(settings),
                                                     volume=settings.play.volume, mute=settings.play.mute, **beat)))
    specs.append(ActorSpec("speak", functools.partial(SpeakActor, "speak", bus,
                                                      engine_factory=tts_factory(settings), **beat)))
    return specs


def build_specs(settings: Settings, bus: Bus, *, stdin=None, stdout: TextIO | None = None,
                on_idle=None) -> list[ActorSpec]:
    """The actors the config asks for, consumers first (so nothing published is lost)."""
    from runtime.actors import capture as cap
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

        store = ModelStore(models_dir(settings.paths.models))
        make = functools.partial(ListenActor, "listen", bus, asr_factory=asr_factory(settings, store),
                                 vad_factory=vad_factory(settings, store), settings=settings.listen, **beat)
        specs.append(ActorSpec("listen", make))
    if isinstance(capture, FileCapture):
        make = functools.partial(cap.FileSource, "capture", bus, path=capture.path, speed=capture.speed,
                                 tail_silence_s=capture.tail_silence_s, **beat)
    elif isinstance(capture, MicrophoneCapture):
        make = functools.partial(cap.MicrophoneSource, "capture", bus, device=capture.device or None,
                                 device_rate=capture.device_rate or None, **beat)
    else:
        make = functools.partial(cap.ConsoleSource, "capture", bus, stream=stdin, **beat)
    specs.append(ActorSpec("capture", make))
    return specs


def describe_io(settings: Settings) -> list[str]:
    """Where input comes from and where output goes, for the start-up banner."""
    capture = resolve_capture(settings)
    if isinstance(capture, FileCapture):
        source = f"audio file {capture.path} ({capture.speed:g}x)"
    elif isinstance(capture, MicrophoneCapture):
        source = f"microphone {capture.device or '(system default)'} - speak to the kiosk"
    else:
        source = "console - type what the visitor says and press Enter (Ctrl-D ends input, Ctrl-C quits)"
    from runtime.display import display_available

    window = settings.display.window == "on" or (settings.display.window == "auto" and display_available())
    outputs = ["speaker" if settings.play.device != "none" and _has_output() else "silent clock (no speaker)",
               "window" if window else "no window"]
    if settings.record.path:
        outputs.append(f"recording {settings.record.path}")
    if settings.caption.enabled:
        outputs.append("captions on this terminal")
    return [f"input:  {source}", f"answer: {_describe_think(settings)}", f"output: {', '.join(outputs)}"]


def _describe_think(settings: Settings) -> str:
    cfg = settings.think
    persona = settings.personas[cfg.persona]
    if cfg.type == "echo":
        return f"echo (repeats the visitor) as {persona.name}"
    return f"{cfg.model} via llama.cpp as {persona.name} ({cfg.persona})"


def _has_output() -> bool:
    try:
        from runtime import sound

        return bool(sound.devices("output"))
    except (OSError, ImportError):
        return False
