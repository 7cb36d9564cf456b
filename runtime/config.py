"""The ONE configuration schema (pydantic v2, extra="forbid" everywhere) and load_config().

The defaults here are the embedded defaults `make run` uses; config/default.toml documents every
key with the same values (a test keeps the two equal). Backends are discriminated unions on
`type`: each backend's section class lives in its engine file in runtime/engines/ with the
`create` that builds it (runtime.engines.build), and is listed in its stage's union below;
installed packages add theirs through an entry point (`plugins`). The schema sits above the
engines and the dialogue it configures; runtime/core/section.py has the bases they share.
"""

from __future__ import annotations

import logging
import os
import typing
from pathlib import Path
from typing import Annotated, ClassVar, Literal, Union

from pydantic import BaseModel, Field, PrivateAttr, ValidationError, ValidationInfo, model_validator

from runtime.core import confine, limits
from runtime.core.compat import tomllib
from runtime.core.errors import ConfigFault
from runtime.core.paths import state_dir
from runtime.core.section import Backend, Section
from runtime.dialogue.emotion import Emotion
from runtime.dialogue.safety import RESPONSES, SafetyCategory
from runtime.engines import module_of
from runtime.engines.asr_sherpa import SherpaAsr
from runtime.engines.asr_whisper import WhisperAsr
from runtime.engines.asr_wyoming import WyomingAsr
from runtime.engines.llm import ThinkBackend
from runtime.engines.llm_echo import EchoThink
from runtime.engines.llm_llamacpp import LlamaThink
from runtime.engines.llm_openai import OpenAIThink
from runtime.engines.tts import NoSpeak, is_piper_voice
from runtime.engines.tts_kokoro import KokoroSpeak
from runtime.engines.tts_piper import PiperSpeak
from runtime.engines.tts_wyoming import WyomingSpeak
from runtime.engines.wyoming import WyomingServer

__all__ = ["Backend", "EchoThink", "KokoroSpeak", "LlamaThink", "NoSpeak", "OpenAIThink", "PiperSpeak", "Section",
           "SherpaAsr", "ThinkBackend", "WhisperAsr", "WyomingAsr", "WyomingServer", "WyomingSpeak"]
"""The backends' sections are part of the schema's names (each defined beside its engine)."""

_LOGGER = logging.getLogger(__name__)

CONFIG_ENV = "EDGE_TALKER_CONFIG"
SYSTEM_CONFIG = Path("/etc/edge-talker/config.toml")


class CaptureSource(Section):
    """A [capture] backend; SOURCE names the actor class that reads it."""

    SOURCE: ClassVar[str] = ""
    """`module:Class` of the capture actor; the class has `from_config(name, bus, section, **kw)`."""

    def describe(self) -> str:
        """Where the visitor's words come from, for the start-up banner."""
        return self.type


class BusConfig(Section):
    """[bus] ZeroMQ endpoints of the forwarder every actor publishes through."""

    pub_endpoint: str = Field(
        "inproc://edge-talker-pub", title="Publish endpoint",
        description="Where actors publish (the forwarder binds XSUB here): inproc://, ipc:// or tcp://.")
    sub_endpoint: str = Field(
        "inproc://edge-talker-sub", title="Subscribe endpoint",
        description="Where actors subscribe (the forwarder binds XPUB here).")
    hwm: int = Field(1000, ge=1, le=100_000, title="High-water mark",
                     description="Messages queued per socket before the newest are dropped.")
    heartbeat_s: float = Field(1.0, gt=0, le=60, description="Heartbeat interval per actor (seconds).")

    @model_validator(mode="after")
    def _endpoints(self) -> BusConfig:
        for key in ("pub_endpoint", "sub_endpoint"):
            value = getattr(self, key)
            if not value.startswith(("inproc://", "ipc://", "tcp://")):
                raise ValueError(f"{key} {value!r} must start with inproc://, ipc:// or tcp://")
        if self.pub_endpoint == self.sub_endpoint:
            raise ValueError("pub_endpoint and sub_endpoint must differ")
        return self


class SupervisorConfig(Section):
    """[supervisor] start/stop budgets, restarts with backoff, restart-storm limit."""

    start_timeout_s: float = Field(60.0, gt=0, le=600,
        description="Time one actor may take to become ready (seconds).")
    stop_timeout_s: float = Field(1.5, gt=0, le=30, description="Time all actors together may take to stop (seconds).")
    restart_backoff_s: float = Field(0.2, ge=0, le=60,
        description="Delay before the first restart of a failed actor (seconds).")
    restart_backoff_max_s: float = Field(5.0, ge=0, le=600,
        description="Longest delay between restarts; doubles up to this (seconds).")
    storm_max_restarts: int = Field(5, ge=1, le=1000,
        description="Restarts of one actor within storm_window_s that end the process.")
    storm_window_s: float = Field(60.0, gt=0, le=86400, description="Window for counting restarts (seconds).")
    hang_timeout_s: float = Field(30.0, gt=0, le=3600,
        description="An actor whose loop has not turned this long, and whose thread did not compute meanwhile, is "
                    "hung: the process exits non-zero (seconds). Computing without checking in counts for 10x this.")
    confirm_s: float = Field(120.0, ge=5, le=3600,
        description="An operator's change that restarts the kiosk must be healthy (every actor ready, the fleet link "
                    "connected) within this time, else the kiosk rolls back to the last good document (seconds).")

    @model_validator(mode="after")
    def _backoff_order(self) -> SupervisorConfig:
        if self.restart_backoff_max_s < self.restart_backoff_s:
            raise ValueError(f"restart_backoff_max_s ({self.restart_backoff_max_s:g}) is below restart_backoff_s "
                             f"({self.restart_backoff_s:g})")
        return self


class AutoCapture(CaptureSource):
    """[capture] type = "auto": the default microphone when there is one, else typed lines (the
    composition root decides at start, see runtime.product.resolve_capture)."""

    type: Literal["auto"] = "auto"


class ConsoleCapture(CaptureSource):
    """[capture] type = "console": typed lines are the visitor's words."""

    SOURCE: ClassVar[str] = "runtime.actors.capture:ConsoleSource"
    type: Literal["console"]

    def describe(self) -> str:
        """The banner line."""
        return "console - type what the visitor says and press Enter (Ctrl-D ends input, Ctrl-C quits)"


class FileCapture(CaptureSource):
    """[capture] type = "file": an audio file (WAV/FLAC/OGG) is what the visitor says."""

    SOURCE: ClassVar[str] = "runtime.actors.capture:FileSource"
    type: Literal["file"]
    path: str = Field(min_length=1, description="Audio file to play into the pipeline.")
    speed: float = Field(1.0, ge=0, le=50,
        description="Pacing: 1 = real time, 2 = twice as fast, 0 = as fast as possible (at most 50x).")
    tail_silence_s: float = Field(1.0, ge=0, le=10,
        description="Silence added after the file so its last utterance ends (seconds).")

    def describe(self) -> str:
        """The banner line."""
        return f"audio file {self.path} ({self.speed:g}x)"


class MicrophoneCapture(CaptureSource):
    """[capture] type = "microphone": a sound input device."""

    SOURCE: ClassVar[str] = "runtime.actors.capture:MicrophoneSource"
    type: Literal["microphone"]
    device: str = Field("", description="Device name fragment or index; empty for the system default.")
    device_rate: int = Field(0, ge=0, le=384_000,
        description="Rate to open the device at (hertz); 0 = the device's default. Resampled to 16 kHz.")

    def describe(self) -> str:
        """The banner line."""
        return f"microphone {self.device or '(system default)'} - speak to the kiosk"


class ListenConfig(Section):
    """[listen] voice activity detection, endpointing, partials and the self-echo policy."""

    language: Literal["auto", "en", "zh"] = Field("auto", description="Language spoken to the kiosk.")
    threshold: float = Field(0.5, gt=0, lt=1, description="Silero speech probability that counts as speech.")
    min_speech_s: float = Field(0.25, gt=0, le=2, description="Speech needed before an utterance starts (seconds).")
    min_silence_s: float = Field(0.45, gt=0, le=5,
        description="Silence that ends an utterance when its words do not say whether it is finished (seconds).")
    endpoint_complete_s: float = Field(0.3, gt=0, le=5,
        description="Silence that ends an utterance that sounds finished: a question (seconds).")
    endpoint_incomplete_s: float = Field(1.0, gt=0, le=5,
        description='Silence that ends an utterance that asks for more: "and", "um", "那个", a trailing comma '
                    "(seconds).")
    endpoint_unfinished_s: float = Field(0.45, gt=0, le=5,
        description="Silence that ends an utterance the turn model twice hears as unfinished (seconds; never less "
                    "than min_silence_s). 1.2 holds a breath in the middle of a sentence, but the model is right "
                    "about half the time here, and then finished questions wait too.")
    turn_model: bool = Field(True,
        description="Let the turn model (Smart Turn v3.2, model turn-smart-v3.2) judge from the audio, with the "
                    "words, whether the visitor has finished; without its file the words decide alone.")
    turn_threshold: float = Field(0.5, gt=0, lt=1,
        description="The turn model's probability of a finished turn at or above which it counts as finished.")
    max_utterance_s: float = Field(15.0, ge=2, le=60, description="Longer speech is cut here (seconds).")
    resume_s: float = Field(0.8, ge=0, le=3,
        description="A visitor who speaks again within this long after an utterance ended goes on with it: "
                    "its answer is cancelled and the whole is answered once, as one turn (seconds; 0 = off).")
    pause_s: float = Field(0.12, gt=0, le=2,
        description="A pause this long ends a phrase: what was said so far is decoded at once (seconds).")
    speculate: bool = Field(True,
        description="Answer ahead at a pause: the answer is prepared before the endpoint and played at the "
                    "endpoint when the final words are the same; cancelled when the visitor goes on.")
    partial_interval_s: float = Field(0.6, gt=0, le=5, description="Time between partial transcripts (seconds).")
    barge_in_threshold: float = Field(0.6, gt=0, lt=1,
        description="While the avatar speaks: speech probability needed to count as the visitor.")
    barge_in_min_speech_s: float = Field(0.08, gt=0, le=2,
        description="While the avatar speaks: speech needed before it counts as a barge-in (seconds).")
    barge_in_min_dbfs: float = Field(-35.0, ge=-90, le=0,
        description="While the avatar speaks: level the visitor's speech must reach (dBFS).")
    barge_in_echo_margin_db: float = Field(0.0, ge=0, le=40,
        description="While the avatar speaks: how much louder than the loudest 80 ms heard in the 2.5 s before "
                    "(the echo of its own voice) the visitor's speech must be (dB); 0 = off. For a speaker loud in "
                    "the microphone; a visitor who already talks when the avatar starts must then be louder still.")
    echo_tail_s: float = Field(0.3, ge=0, le=3,
        description="The echo policy stays on this long after playback ends (seconds).")

    @model_validator(mode="after")
    def _pauses_in_order(self) -> ListenConfig:
        if not self.pause_s <= self.endpoint_complete_s <= self.min_silence_s <= self.endpoint_incomplete_s:
            raise ValueError(f"need pause_s ({self.pause_s:g}) <= endpoint_complete_s ({self.endpoint_complete_s:g}) "
                             f"<= min_silence_s ({self.min_silence_s:g}) <= endpoint_incomplete_s "
                             f"({self.endpoint_incomplete_s:g})")
        return self


class AvatarConfig(Section):
    """[avatar] the face: which avatar to show and how photos are enrolled."""

    name: str = Field("default",
        description="Avatar to show (`edge-talker avatar list`); default = the bundled portrait.")
    resolution: int = Field(512, ge=128, le=2048, description="Side of the aligned portrait (pixels).")
    min_face_px: int = Field(128, ge=32, le=4096,
        description="Smallest head (1.5 x the detected face box) to enroll (pixels).")
    several_faces: Literal["largest", "refuse"] = Field("largest",
        description="A photo with several faces: enroll the largest (with a warning) or refuse it.")
    keep_original: bool = Field(False, description="Keep the original photo in the bundle (off: privacy).")


class PlayConfig(Section):
    """[play] the speaker."""

    device: str = Field("", description='Output device name fragment or index; "" = default; "none" = no speaker '
                                       "(the playback clock still runs, silently).")
    volume: float = Field(1.0, ge=0, le=4, description="Loudness multiplier.")
    mute: bool = Field(False, description="Play silence (the face still speaks).")


class DisplayConfig(Section):
    """[display] the window on the attached screen."""

    window: Literal["auto", "on", "off"] = Field("auto",
        description="auto = a window when a display exists; on = required; off = never.")
    fullscreen: bool = Field(False, description="Fill the screen.")
    hide_cursor: bool = Field(False, description="Kiosk mode: no mouse pointer.")
    fps: int = Field(30, ge=5, le=120, description="Frames drawn per second.")


class CameraConfig(Section):
    """[camera] a camera for presence (off by default): frames are analysed in memory and never stored,
    sent or logged."""

    enabled: bool = Field(False, description="Watch for visitors with a camera (see [presence]).")
    source: str = Field("0", min_length=1, max_length=4096,
        description='OpenCV source: a device index ("0"), a device path ("/dev/video0"), a GStreamer pipeline '
                    '(ending in "appsink"), or a video file (tests and demos; played in real time).')
    fps: float = Field(5.0, ge=1, le=15, description="Frames analysed per second.")
    width: int = Field(640, ge=64, le=4096, description="Requested capture width (pixels; a device may pick another).")
    height: int = Field(480, ge=48, le=4096, description="Requested capture height (pixels).")
    mirrored: bool = Field(False, description="The camera delivers a mirror image (some webcams do).")


class PresenceConfig(Section):
    """[presence] who stands in front of the kiosk (needs [camera] enabled): approach, present, leaving."""

    approach_size: float = Field(0.16, gt=0, lt=1,
        description="A face this tall (fraction of the picture's height) or taller is close enough to talk.")
    approach_frames: int = Field(3, ge=1, le=50,
        description="... for this many analysed frames in a row before it counts as an approach.")
    leave_s: float = Field(3.0, ge=0.5, le=600,
        description="The visitor has left when no face was close enough for this long (seconds).")
    close_size: float = Field(0.35, gt=0, le=1,
        description='A face this tall or taller is "close" (else "near" above approach_size, "far" below).')
    min_score: float = Field(0.6, gt=0, lt=1, description="Detector score a face needs.")
    frontal: float = Field(0.5, gt=0, le=1,
        description="How far the nose may sit off the middle of the eyes (eye distances) for a face that looks "
                    "at the kiosk.")
    greet: bool = Field(True, description="Say the persona's greeting when a visitor approaches.")
    language: Literal["", "en", "zh"] = Field("",
        description='Language of that greeting: "" = the persona\'s language, else [listen] language, else en.')
    require_presence: bool = Field(False,
        description="Hear speech only while a visitor is present (ignores background talk).")

    @model_validator(mode="after")
    def _sizes(self) -> PresenceConfig:
        if self.close_size <= self.approach_size:
            raise ValueError("[presence] close_size must exceed approach_size")
        return self


class RecordConfig(Section):
    """[record] MP4 files of what the visitor sees and hears; off unless configured (privacy)."""

    path: str = Field("", description='One recording: this MP4 file, continued in name-2.mp4, ... when it rotates; '
                                      '"" = none.')
    directory: str = Field("", description='Rotating recordings: time-stamped MP4 files in this directory; "" = none.')
    demo: bool = Field(True, description="At a terminal with no window, no recording configured and not as a service, "
                                         "keep a few short demo clips in the state directory (3 x 2 min).")
    fps: int = Field(25, ge=5, le=60, description="Video frame rate of the recording.")
    include_input: bool = Field(False,
        description="Also record the visitor's input audio (right channel). Off by default for privacy.")
    segment_s: float = Field(600.0, ge=10, le=86400, description="A new file after this long (seconds).")
    max_file_mb: float = Field(500.0, ge=1, le=100000, description="... or this big (MB).")
    keep_files: int = Field(20, ge=1, le=100000, description="Oldest recordings beyond this many are deleted.")
    keep_mb: float = Field(5000.0, ge=10, le=10000000, description="... or beyond this much disk (MB).")

    @model_validator(mode="after")
    def _one_target(self) -> RecordConfig:
        if self.path and self.directory:
            raise ValueError("set [record] path or directory, not both")
        if self.keep_mb < self.max_file_mb:
            raise ValueError("[record] keep_mb must be at least max_file_mb")
        return self


class CaptionConfig(Section):
    """[caption] subtitles of the conversation on the terminal."""

    enabled: bool = Field(True, description="Print what the visitor said and what the avatar answers.")


class LogConfig(Section):
    """[log] logging."""

    level: Literal["debug", "info", "warning", "error"] = Field("info", description="Lowest level logged.")


class PathsConfig(Section):
    """[paths] where models and state live; empty means the environment decides (see README)."""

    models: str = Field("",
        description="Model store; empty: $EDGE_TALKER_MODELS, $STATE_DIRECTORY/models or ~/.cache/edge-talker/models.")
    state: str = Field("",
        description="App state (avatars); empty: $EDGE_TALKER_STATE, $STATE_DIRECTORY or ~/.local/share/edge-talker.")


class RemoteTls(Section):
    """[remote.tls] TLS to the broker: on when `ca` or `cert` is set."""

    ca: str = Field("", description='CA certificate (PEM file) that signed the broker\'s certificate; "system" = the '
                                    "system's trusted CAs; empty (and no cert) = no TLS.")
    cert: str = Field("", description="Client certificate (PEM file), for brokers that know devices by certificate.")
    key: str = Field("", description="Private key (PEM file) of the client certificate.")
    insecure: bool = Field(False,
        description="Do not check the broker's host name against its certificate (tests only).")

    @property
    def enabled(self) -> bool:
        """TLS is configured."""
        return bool(self.ca or self.cert)

    @model_validator(mode="after")
    def _pair(self) -> RemoteTls:
        if bool(self.cert) != bool(self.key):
            raise ValueError("cert and key go together: set both or neither")
        return self


RESERVED_DEVICE_IDS = ("fleet", "reply")
"""Topic levels under topic_prefix that are not devices: fleet commands and operators' replies."""


class RemoteConfig(Section):
    """[remote] fleet control over MQTT v5: status, state, commands with replies (see README)."""

    type: Literal["off", "mqtt"] = Field("off", description="off, or mqtt to join the fleet's broker.")
    host: str = Field("localhost", min_length=1, description="Broker host name or address.")
    port: int = Field(0, ge=0, le=65535, description="Broker port; 0 = 1883, or 8883 with TLS.")
    device_id: str = Field("", pattern=r"^([A-Za-z0-9_.-]{1,64})?$",
                           description="This device's name in topics; empty = the host name.")
    topic_prefix: str = Field("edge-talker", pattern=r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$",
                              description="First topic levels of every topic (no wildcards).")
    tls: RemoteTls = RemoteTls()
    require_tls: bool = Field(False, description="Refuse to run without [remote.tls] (no clear-text broker link).")
    username: str = Field("", description="User name at the broker; empty = anonymous or certificate.")
    password_env: str = Field("", pattern=r"^$|^[A-Za-z_][A-Za-z0-9_]*$",
                              description="Environment variable holding the password (no secrets in this file).")
    keepalive_s: int = Field(30, ge=5, le=1200,
        description="MQTT keepalive: the broker declares us gone after 1.5x this (seconds).")
    reconnect_max_s: int = Field(60, ge=1, le=3600,
        description="Longest wait between reconnection attempts; doubles from 1 s up to this (seconds).")
    state_interval_s: float = Field(60.0, ge=5, le=3600,
        description="The retained state is republished this often (uptime, health) and on every change (seconds).")
    share_transcripts: bool = Field(False,
        description="Put what the visitor and the avatar say in events and state (privacy: off).")
    homeassistant: bool = Field(False, description="Publish Home Assistant MQTT discovery for this device.")
    discovery_prefix: str = Field("homeassistant", pattern=r"^[A-Za-z0-9_.-]+$",
                                  description="Home Assistant's discovery prefix.")

    @property
    def broker_port(self) -> int:
        """The port to connect to."""
        return self.port or (8883 if self.tls.enabled else 1883)

    @model_validator(mode="after")
    def _tls_required(self) -> RemoteConfig:
        if self.type == "mqtt" and self.require_tls and not self.tls.enabled:
            raise ValueError("require_tls is set but [remote.tls] has no ca or cert")
        if self.device_id in RESERVED_DEVICE_IDS:
            raise ValueError(f"device_id {self.device_id!r} is a topic level of the fleet; pick another name")
        return self


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach."""
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ApiConfig(Section):
    """[api] the REST API and web console (off by default)."""

    enabled: bool = Field(False, description="Serve the REST API and the web console.")
    host: str = Field("127.0.0.1", min_length=1, description="Address to listen on; 127.0.0.1 = this machine only.")
    port: int = Field(8080, ge=0, le=65535, description="TCP port; 0 = any free port (printed at start).")
    token_env: str = Field("", pattern=r"^$|^[A-Za-z_][A-Za-z0-9_]*$",
                           description="Environment variable holding the bearer token; required off loopback.")
    max_upload_mb: float = Field(10.0, gt=0, le=100, description="Largest photo upload (MB).")
    captions: bool = Field(False, description="Send what is said on /events for the console's captions (privacy: off).")
    preview_fps: int = Field(10, ge=1, le=30, description="Frame rate of the face preview at /live.mjpeg.")
    bench_dir: str = Field("bench-out", min_length=1,
        description="Where `edge-talker bench --out DIR` wrote its report (GET /bench/latest); relative to the "
                    "working directory.")

    @model_validator(mode="after")
    def _token_off_loopback(self) -> ApiConfig:
        if self.enabled and not is_loopback(self.host) and not self.token_env:
            raise ValueError(f"host {self.host!r} is reachable from the network: set token_env")
        return self


def backends(*classes: type[Section]):
    """A discriminated union on `type`; a stage with one backend so far is just that class."""
    if len(classes) == 1:
        return classes[0]
    return Annotated[Union[classes], Field(discriminator="type")]  # noqa: UP007 - runtime union


ENGINE_GROUP = "edge_talker.engines"
"""Entry-point group through which an installed package adds a backend: each entry point names
its config class (a Backend subclass with its own `type` and STAGE, in the module with its
engine's `create`, or naming that module in ENGINE)."""


def plugins(stage: str, base: type[Backend], taken: tuple[type[Backend], ...]) -> tuple[type[Backend], ...]:
    """The backends installed packages add to a stage. One that cannot be loaded, is no backend
    or takes a `type` already taken is left out with a warning: a broken package never stops the
    kiosk, and a config naming its type gets the unknown-type error with the known ones listed."""
    from importlib.metadata import entry_points

    names = {_type_name(cls) for cls in taken}
    found = []
    for point in entry_points(group=ENGINE_GROUP):
        try:
            cls = point.load()
        except Exception as err:  # noqa: BLE001 - any failure of another package's import
            _LOGGER.warning("engine package %s (%s) cannot be loaded: %s", point.name, point.value, err)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Backend) and "type" in cls.model_fields
                and module_of(cls) is not None):
            _LOGGER.warning("engine package %s: %s is no backend config class (a Backend with type, beside its "
                            "engine's create)",
                            point.name, point.value)
        elif cls.STAGE == stage and not issubclass(cls, base):
            _LOGGER.warning("engine package %s: a %s backend must extend %s", point.name, stage, base.__name__)
        elif cls.STAGE == stage and _type_name(cls) in names:
            _LOGGER.warning("engine package %s: type %r is taken", point.name, _type_name(cls))
        elif cls.STAGE == stage:
            names.add(_type_name(cls))
            found.append(cls)
    return tuple(found)


def _type_name(cls: type[Backend]) -> str:
    return typing.get_args(cls.model_fields["type"].annotation)[0]


_ASR = (WhisperAsr, SherpaAsr, WyomingAsr)
_THINK = (LlamaThink, EchoThink, OpenAIThink)
_SPEAK = (PiperSpeak, KokoroSpeak, WyomingSpeak, NoSpeak)
Capture = backends(AutoCapture, ConsoleCapture, FileCapture, MicrophoneCapture)
Asr = backends(*_ASR, *plugins("asr", Backend, _ASR))
Think = backends(*_THINK, *plugins("think", ThinkBackend, _THINK))
Speak = backends(*_SPEAK, *plugins("speak", Backend, _SPEAK))
LANGUAGES = ("en", "zh")
"""Languages the avatar hears and speaks."""


def _default_types(cls: type[BaseModel], data):
    """A backend section without `type` means the field's default backend, as if it were written."""
    if isinstance(data, dict):
        for name, field in cls.model_fields.items():
            default, section = field.default, data.get(name)
            if isinstance(section, dict) and "type" not in section and hasattr(default, "type"):
                data = {**data, name: {"type": default.type, **section}}
    return data


class SpeakConfig(Section):
    """[speak.en] and [speak.zh] the voice of each language: each chunk of an answer is read by the
    voice of its language (a chunk with Chinese characters by zh, which also reads the English
    words among them; any other by en). A flat [speak] section (before there were two) is [speak.en]."""

    en: Speak = PiperSpeak()
    zh: Speak = KokoroSpeak()
    voice: str = Field("", max_length=64,
        description="An enrolled voice (`edge-talker voice list`): the avatar speaks the language it was enrolled "
                    "for with it (through Kokoro, whatever that language's engine); empty: the voices below.")

    @model_validator(mode="before")
    @classmethod
    def _default_backend_type(cls, data):
        if isinstance(data, dict):
            flat = {k: v for k, v in data.items() if k not in cls.model_fields}
            if "voice" in data and (flat or is_piper_voice(str(data["voice"]))):
                flat["voice"] = data["voice"]  # a flat [speak] of old configs: the English voice
            if flat:
                if not isinstance(data.get("en", {}), dict) or data.get("en"):
                    raise ValueError("give the English voice either as [speak.en] or with keys directly under "
                                     "[speak], not both")
                data = {**{k: v for k, v in data.items() if k in cls.model_fields and k not in flat}, "en": flat}
        return _default_types(cls, data)

    def kokoro(self) -> KokoroSpeak:
        """The Kokoro section enrolled voices are spoken through: a configured one, else the defaults."""
        return next((s for s in (self.zh, self.en) if s.type == "kokoro"), KokoroSpeak())

    def describe(self) -> str:
        """The voice of each language, e.g. `en: piper tts-piper-joe, zh: kokoro zf_xiaoxiao`."""
        parts = [f"enrolled voice {self.voice}"] if self.voice else []
        for lang in LANGUAGES:
            section = getattr(self, lang)
            parts.append(f"{lang}: captions only" if isinstance(section, NoSpeak) else
                         f"{lang}: {section.type} {section.voice}")
        return ", ".join(parts)


class VoiceConfig(Section):
    """[voice] enrolling a person's voice from a sample (`edge-talker voice enroll`)."""

    keep_sample: bool = Field(False,
        description="Keep the sample in the voice's folder (privacy: off, only the matched style is stored).")
    enroll_s: float = Field(55.0, ge=1, le=600,
        description="Time an enrollment may take (seconds): the search for the matching style gets what the "
                    "checks leave, less one round trip; at least one candidate is tried.")
    candidates: int = Field(24, ge=1, le=500, description="Candidate voices synthesized and compared at most.")


class SafetyConfig(Section):
    """[safety] words that get a fixed response and a SafetyEvent, never the model's answer: a lost
    child, an emergency, a visitor feeling unwell (built-in phrases in English and Chinese:
    runtime/dialogue/safety.py; the response is the persona's, see [personas.<id>.safety])."""

    enabled: bool = Field(True, description="Check every visitor utterance for safety phrases.")
    phrases: dict[SafetyCategory, dict[str, list[str]]] = Field(default_factory=dict,
        description="More phrases, by category (lost_child, emergency, unwell) then language: regular "
                    "expressions searched in the visitor's words, lower-cased, in simplified characters, "
                    "without punctuation.")

    @model_validator(mode="after")
    def _compile(self) -> SafetyConfig:
        import re

        for category, by_language in self.phrases.items():
            for language, patterns in by_language.items():
                if language not in LANGUAGES:
                    raise ValueError(f"phrases.{category}.{language}: not a language ({', '.join(LANGUAGES)})")
                for pattern in patterns:
                    try:
                        re.compile(pattern)
                    except re.error as err:
                        raise ValueError(f"phrases.{category}.{language}: bad pattern {pattern!r}: {err}") from err
        return self


class Persona(Section):
    """[personas.<id>] who the avatar is and how it speaks."""

    name: str = Field(min_length=1, max_length=200, description="The avatar's name.")
    system_prompt: str = Field(min_length=1, max_length=limits.MAX_PROMPT_CHARS,
                               description="Who the avatar is and what it knows.")
    style: str = Field("", max_length=4096, description="How it speaks (added to the system prompt).")
    language: Literal["match", "en", "zh"] = Field("match",
        description="Answer language: match = the visitor's language, or always en / zh.")
    max_sentences: int = Field(3, ge=1, le=20, description="Longest spoken answer (sentences).")
    greeting: dict[str, str] = Field(default_factory=dict,
        description="Said first to a new visitor, by language code (en, zh); empty: no greeting.")
    emotion: Emotion = Field(Emotion.NEUTRAL,
        description="Bias: neutral lines are read with this emotion ...")
    emotion_intensity: float = Field(0.3, ge=0, le=1, description="... at this intensity (0..1).")
    voices: dict[str, str] = Field(default_factory=dict, json_schema_extra={"propertyNames": {"enum": list(LANGUAGES)}},
        description="Voice pinned per language (en, zh), a voice of that language's [speak] engine: a Kokoro "
                    "voice name, or a piper model id / .onnx path; empty: the [speak] voice.")
    facts: str = Field("", max_length=limits.MAX_PROMPT_CHARS + limits.MAX_FACTS_FILE_BYTES,
                       description="What the avatar knows about the venue: hours, floors, services, prices. "
                                   "Answers use only these; a question they do not cover is answered so.")
    facts_file: str = Field("", description="A UTF-8 text file with more facts (added after `facts`): in the config "
                                            "file's directory (relative to it) or the state directory, at most 256 kB.")
    safety: dict[SafetyCategory, dict[str, str]] = Field(default_factory=dict,
        description="Fixed responses to safety phrases, by category then language; a missing one is the "
                    "built-in response.")
    fallback: dict[str, str] = Field(default_factory=dict,
        json_schema_extra={"propertyNames": {"enum": list(LANGUAGES)}},
        description="Said when the language model cannot answer (its server is down), by language code; a "
                    "missing one is the built-in line.")

    _facts_file_text: str = PrivateAttr("")
    """What facts_file held when the whole config was validated (Settings reads it, confined)."""

    @model_validator(mode="after")
    def _check(self) -> Persona:
        for field in ("voices", "fallback"):
            unknown = set(getattr(self, field)) - set(LANGUAGES)
            if unknown:
                raise ValueError(f"{field}: {', '.join(sorted(unknown))} is not a language ({', '.join(LANGUAGES)})")
        return self

    def read_facts_file(self, roots: list[Path]) -> None:
        """Read facts_file from the allowed directories (an unreadable one fails check-config, not
        the first visitor)."""
        if self.facts_file:
            try:
                self._facts_file_text = confine.read_text(self.facts_file, roots, limits.MAX_FACTS_FILE_BYTES)
            except confine.Refused as err:
                raise ValueError(f"facts_file {err}") from err

    def facts_text(self) -> str:
        """`facts` plus the contents of `facts_file`."""
        return f"{self.facts.strip()}\n{self._facts_file_text.strip()}".strip()

    def folded(self) -> Persona:
        """This persona with its facts file's text in `facts` (for a message on the bus)."""
        return self.model_copy(update={"facts": self.facts_text(), "facts_file": ""})

    def safety_response(self, category: SafetyCategory, language: str) -> str:
        """This persona's fixed response to a safety phrase (else the built-in one)."""
        return self.safety.get(category, {}).get(language) or RESPONSES[category][language]


DEFAULT_PERSONAS = {
    "guide": Persona(
        name="Mia",
        system_prompt="You are Mia, the friendly guide of this kiosk. You help visitors find their way, "
                      "answer questions about the venue and make them feel welcome.",
        style="Warm, clear and brief. Plain spoken sentences.",
        greeting={"en": "Hi, I'm Mia!", "zh": "你好，我是米娅！"},
        emotion=Emotion.HAPPY, emotion_intensity=0.2),
}


class Settings(Section):
    """The whole configuration."""

    bus: BusConfig = BusConfig()
    supervisor: SupervisorConfig = SupervisorConfig()
    capture: Capture = AutoCapture()
    listen: ListenConfig = ListenConfig()
    asr: Asr = WhisperAsr()
    think: Think = LlamaThink()
    personas: dict[str, Persona] = Field(default_factory=lambda: dict(DEFAULT_PERSONAS))
    safety: SafetyConfig = SafetyConfig()
    speak: SpeakConfig = SpeakConfig()
    voice: VoiceConfig = VoiceConfig()
    avatar: AvatarConfig = AvatarConfig()
    play: PlayConfig = PlayConfig()
    display: DisplayConfig = DisplayConfig()
    record: RecordConfig = RecordConfig()
    caption: CaptionConfig = CaptionConfig()
    camera: CameraConfig = CameraConfig()
    presence: PresenceConfig = PresenceConfig()
    log: LogConfig = LogConfig()
    paths: PathsConfig = PathsConfig()
    remote: RemoteConfig = RemoteConfig()
    api: ApiConfig = ApiConfig()


    @model_validator(mode="before")
    @classmethod
    def _default_backend_type(cls, data):
        return _default_types(cls, data)

    @model_validator(mode="after")
    def _hang_after_heartbeats(self) -> Settings:
        # A loop that is idle turns once per heartbeat: a shorter hang timeout would kill healthy actors.
        if self.supervisor.hang_timeout_s <= 2 * self.bus.heartbeat_s:
            raise ValueError(f"supervisor.hang_timeout_s ({self.supervisor.hang_timeout_s:g}) must exceed twice "
                             f"bus.heartbeat_s ({self.bus.heartbeat_s:g})")
        return self

    _config_dir: Path | None = PrivateAttr(None)
    """The directory of the config file these settings came from (facts files may be there)."""

    @model_validator(mode="after")
    def _facts_files(self, info: ValidationInfo) -> Settings:
        config_dir = (info.context or {}).get("config_dir")
        self._config_dir = config_dir
        roots = [r for r in (config_dir, state_dir(self.paths.state)) if r is not None]
        for persona_id, persona in self.personas.items():
            try:
                persona.read_facts_file(roots)
            except ValueError as err:
                raise ValueError(f"personas.{persona_id}.{err}") from err
        return self

    def __eq__(self, other: object) -> bool:
        # The same settings, wherever the file was: the directory is where they came from, not what they say.
        return isinstance(other, Settings) and self.__dict__ == other.__dict__

    __hash__ = Section.__hash__

    @property
    def config_dir(self) -> Path | None:
        """The directory of the config file (None: built-in defaults or text)."""
        return self._config_dir

    @model_validator(mode="after")
    def _presence_needs_camera(self) -> Settings:
        if self.presence.require_presence and not self.camera.enabled:
            raise ValueError("presence.require_presence needs [camera] enabled = true (nobody would ever be heard)")
        return self

    @model_validator(mode="after")
    def _persona_exists(self) -> Settings:
        if self.think.persona not in self.personas:
            raise ValueError(f"think.persona {self.think.persona!r} is not one of [personas]: "
                             f"{', '.join(sorted(self.personas)) or '(none)'}")
        return self


def config_path(explicit: str | os.PathLike | None) -> Path | None:
    """The config file to read: --config, else $EDGE_TALKER_CONFIG, else /etc, else None (defaults)."""
    if explicit:
        return Path(explicit)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return SYSTEM_CONFIG if SYSTEM_CONFIG.is_file() else None


def load_config(path: str | os.PathLike | None = None) -> Settings:
    """Read and validate a config file; raise ConfigFault listing every problem."""
    resolved = config_path(path)
    if resolved is None:
        return Settings()
    try:
        if resolved.stat().st_size > limits.MAX_CONFIG_BYTES:
            raise _too_large(str(resolved))
        text = resolved.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ConfigFault("config-missing", f"config file {resolved} does not exist",
                          "pass an existing file with --config, or omit it to use the defaults") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigFault("config-unreadable", f"cannot read config file {resolved}: {err}",
                          "check the file's permissions and that it is UTF-8 text") from err
    return parse_config(text, str(resolved), config_dir=resolved.parent.absolute())


def _too_large(source: str) -> ConfigFault:
    return ConfigFault("config-too-large", f"{source} is larger than {limits.MAX_CONFIG_BYTES // 2**20} MB",
                       "a config holds settings, not data: put long facts in a facts_file (at most 256 kB)")


def _too_deep(source: str) -> ConfigFault:
    return ConfigFault("config-too-deep", f"{source} nests tables or lists more than {limits.MAX_DEPTH} deep",
                       "see config/default.toml for the shape of a config")


def check_document(data, source: str) -> None:
    """Refuse a parsed document nested beyond the bound (before it is validated)."""
    if limits.depth(data) > limits.MAX_DEPTH:
        raise _too_deep(source)


def parse_config(text: str, source: str = "<config>", *, config_dir: Path | None = None) -> Settings:
    """Validate TOML text; raise ConfigFault listing every problem with its key path. Facts files
    are read from config_dir (the config file's directory) or the state directory only."""
    if len(text) > limits.MAX_CONFIG_BYTES:
        raise _too_large(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigFault("config-syntax", f"{source} is not valid TOML", "fix the line named above",
                          [f"{source}: {err}"]) from err
    except RecursionError as err:
        raise _too_deep(source) from err
    check_document(data, source)
    try:
        return Settings.model_validate(data, context={"config_dir": config_dir})
    except ValidationError as err:
        problems = [_describe(e) for e in err.errors()]
        raise ConfigFault("config-invalid", f"{source} has {len(problems)} error(s)",
                          "see config/default.toml for every key, its type and its range",
                          problems) from err


def _describe(error: dict) -> str:
    path = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        path += ".type"  # the backend selector is what is wrong
    if error["type"] == "extra_forbidden":
        return f"{path}: unknown key"
    reason = error["msg"]
    if error["type"] not in ("missing", "union_tag_invalid") and "input" in error:
        reason += f" (got {error['input']!r})"
    return f"{path}: {reason}"
