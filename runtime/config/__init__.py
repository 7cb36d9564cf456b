"""The ONE configuration schema (pydantic v2, extra="forbid" everywhere) and load_config().

The defaults here are the embedded defaults `make run` uses; config/default.toml documents every
key with the same values (a test keeps the two equal). Backends are discriminated unions on
`type`: each backend's section class lives in its engine file in runtime/engines/ with the
`create` that builds it (runtime.engines.build), and is listed in its stage's union
(backends.py); installed packages add theirs through an entry point (`plugins`). The schema sits
above the engines and the dialogue it configures; runtime/core/section.py has the bases they share.

Its rooms: sections.py (the plain tables), fleet.py ([remote], [api]), backends.py (the unions,
plugins, [speak]), migrate.py (old shapes of a table), personas.py (the built-in personas),
schema.py (Settings) and load.py (file -> Settings). Import the names from here.
"""

from runtime.config.backends import (
    ENGINE_GROUP,
    Asr,
    Capture,
    Speak,
    SpeakConfig,
    Think,
    backends,
    plugins,
)
from runtime.config.fleet import RESERVED_DEVICE_IDS, ApiConfig, RemoteConfig, RemoteTls, is_loopback
from runtime.config.load import CONFIG_ENV, SYSTEM_CONFIG, check_document, config_path, load_config, parse_config
from runtime.config.personas import DEFAULT_PERSONAS
from runtime.config.schema import Settings
from runtime.config.sections import (
    AutoCapture,
    AvatarConfig,
    BusCapture,
    BusConfig,
    CameraConfig,
    CaptionConfig,
    CaptureSource,
    ConsoleCapture,
    DisplayConfig,
    FileCapture,
    ListenConfig,
    LogConfig,
    MicrophoneCapture,
    PathsConfig,
    PlayConfig,
    PresenceConfig,
    RecordConfig,
    SafetyConfig,
    VoiceConfig,
)
from runtime.core.section import Backend, Section
from runtime.core.supervisor import SupervisorConfig
from runtime.dialogue.persona import Persona
from runtime.engines.asr_sherpa import SherpaAsr
from runtime.engines.asr_whisper import WhisperAsr
from runtime.engines.asr_wyoming import WyomingAsr
from runtime.engines.llm import ThinkBackend
from runtime.engines.llm_echo import EchoThink
from runtime.engines.llm_llamacpp import LlamaThink
from runtime.engines.llm_openai import OpenAIThink
from runtime.engines.tts import NoSpeak
from runtime.engines.tts_kokoro import KokoroSpeak
from runtime.engines.tts_piper import PiperSpeak
from runtime.engines.tts_wyoming import WyomingSpeak
from runtime.engines.wyoming import WyomingServer
from runtime.speech.language import LANGUAGES

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_PERSONAS",
    "ENGINE_GROUP",
    "LANGUAGES",
    "RESERVED_DEVICE_IDS",
    "SYSTEM_CONFIG",
    "ApiConfig",
    "Asr",
    "AutoCapture",
    "AvatarConfig",
    "Backend",
    "BusCapture",
    "BusConfig",
    "CameraConfig",
    "CaptionConfig",
    "Capture",
    "CaptureSource",
    "ConsoleCapture",
    "DisplayConfig",
    "EchoThink",
    "FileCapture",
    "KokoroSpeak",
    "ListenConfig",
    "LlamaThink",
    "LogConfig",
    "MicrophoneCapture",
    "NoSpeak",
    "OpenAIThink",
    "PathsConfig",
    "Persona",
    "PiperSpeak",
    "PlayConfig",
    "PresenceConfig",
    "RecordConfig",
    "RemoteConfig",
    "RemoteTls",
    "SafetyConfig",
    "Section",
    "Settings",
    "SherpaAsr",
    "Speak",
    "SpeakConfig",
    "SupervisorConfig",
    "Think",
    "ThinkBackend",
    "VoiceConfig",
    "WhisperAsr",
    "WyomingAsr",
    "WyomingServer",
    "WyomingSpeak",
    "backends",
    "check_document",
    "config_path",
    "is_loopback",
    "load_config",
    "parse_config",
    "plugins",
]
"""The schema's names (the backends' sections, each defined beside its engine, among them)."""
