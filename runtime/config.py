"""The ONE configuration schema (pydantic v2, extra="forbid" everywhere) and load_config().

The defaults here are the embedded defaults `make run` uses; config/default.toml documents every
key with the same values (a test keeps the two equal). Backends are discriminated unions on
`type`: a new backend is one more config class in its union.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal, Union

import tomllib
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from runtime.errors import ConfigFault

CONFIG_ENV = "EDGE_TALKER_CONFIG"
SYSTEM_CONFIG = Path("/etc/edge-talker/config.toml")


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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

    start_timeout_s: float = Field(60.0, gt=0, description="Time one actor may take to become ready (seconds).")
    stop_timeout_s: float = Field(1.5, gt=0, le=30, description="Time all actors together may take to stop (seconds).")
    restart_backoff_s: float = Field(0.2, ge=0,
        description="Delay before the first restart of a failed actor (seconds).")
    restart_backoff_max_s: float = Field(5.0, ge=0,
        description="Longest delay between restarts; doubles up to this (seconds).")
    storm_max_restarts: int = Field(5, ge=1,
        description="Restarts of one actor within storm_window_s that end the process.")
    storm_window_s: float = Field(60.0, gt=0, description="Window for counting restarts (seconds).")
    hang_timeout_s: float = Field(30.0, gt=0,
        description="An actor whose loop has not turned this long is hung: the process exits non-zero (seconds).")


class ConsoleCapture(Section):
    """[capture] type = "console": typed lines are the visitor's words."""

    type: Literal["console"] = "console"


class EchoThink(Section):
    """[think] type = "echo": repeat the visitor's words (a stand-in until an LLM is configured)."""

    type: Literal["echo"] = "echo"
    prefix: str = Field("You said: ", description="Text put before the echoed words.")


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


def backends(*classes: type[Section]):
    """A discriminated union on `type`; a stage with one backend so far is just that class."""
    if len(classes) == 1:
        return classes[0]
    return Annotated[Union[classes], Field(discriminator="type")]  # noqa: UP007 - runtime union


Capture = backends(ConsoleCapture)
Think = backends(EchoThink)


class Settings(Section):
    """The whole configuration."""

    bus: BusConfig = BusConfig()
    supervisor: SupervisorConfig = SupervisorConfig()
    capture: Capture = ConsoleCapture()
    think: Think = EchoThink()
    caption: CaptionConfig = CaptionConfig()
    log: LogConfig = LogConfig()
    paths: PathsConfig = PathsConfig()


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
        text = resolved.read_text(encoding="utf-8")
    except FileNotFoundError as err:
        raise ConfigFault("config-missing", f"config file {resolved} does not exist",
                          "pass an existing file with --config, or omit it to use the defaults") from err
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigFault("config-unreadable", f"cannot read config file {resolved}: {err}",
                          "check the file's permissions and that it is UTF-8 text") from err
    return parse_config(text, str(resolved))


def parse_config(text: str, source: str = "<config>") -> Settings:
    """Validate TOML text; raise ConfigFault listing every problem with its key path."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ConfigFault("config-syntax", f"{source} is not valid TOML", "fix the line named above",
                          [f"{source}: {err}"]) from err
    try:
        return Settings.model_validate(data)
    except ValidationError as err:
        problems = [_describe(e) for e in err.errors()]
        raise ConfigFault("config-invalid", f"{source} has {len(problems)} error(s)",
                          "see config/default.toml for every key, its type and its range",
                          problems) from err


def _describe(error: dict) -> str:
    path = ".".join(str(part) for part in error["loc"]) or "(top level)"
    if error["type"] == "extra_forbidden":
        return f"{path}: unknown key"
    reason = error["msg"]
    if error["type"] not in ("missing", "union_tag_invalid") and "input" in error:
        reason += f" (got {error['input']!r})"
    return f"{path}: {reason}"
