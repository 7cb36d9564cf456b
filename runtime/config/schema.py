"""Settings: the whole configuration, one section per table, and the checks across sections."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, PrivateAttr, ValidationInfo, model_validator

from runtime.config.backends import Asr, Capture, Speak, SpeakConfig, Think, _default_types
from runtime.config.fleet import ApiConfig, RemoteConfig
from runtime.config.personas import DEFAULT_PERSONAS
from runtime.config.sections import (
    AutoCapture,
    AvatarConfig,
    BusConfig,
    CameraConfig,
    CaptionConfig,
    DisplayConfig,
    ListenConfig,
    LogConfig,
    PathsConfig,
    PlayConfig,
    PresenceConfig,
    RecordConfig,
    SafetyConfig,
    VoiceConfig,
)
from runtime.core.paths import state_dir
from runtime.core.section import Section
from runtime.core.supervisor import SupervisorConfig
from runtime.dialogue.persona import Persona
from runtime.engines.asr_whisper import WhisperAsr
from runtime.engines.llm_llamacpp import LlamaThink

__all__ = ["Settings", "Speak"]


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
    def _bus_capture_reachable(self) -> Settings:
        if self.capture.type == "bus" and self.bus.pub_endpoint.startswith("inproc://"):
            raise ValueError("capture.type \"bus\" needs a [bus] pub_endpoint other processes can reach "
                             "(tcp:// or ipc://): nobody could publish the visitor's audio on inproc://")
        return self

    @model_validator(mode="after")
    def _persona_exists(self) -> Settings:
        if self.think.persona not in self.personas:
            raise ValueError(f"think.persona {self.think.persona!r} is not one of [personas]: "
                             f"{', '.join(sorted(self.personas)) or '(none)'}")
        return self
