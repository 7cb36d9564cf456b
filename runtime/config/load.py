"""Reading a config: which file, its TOML, and every problem named with its key path."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import ValidationError

from runtime.config.schema import Settings
from runtime.core import limits
from runtime.core.compat import tomllib
from runtime.core.errors import ConfigFault

CONFIG_ENV = "EDGE_TALKER_CONFIG"
SYSTEM_CONFIG = Path("/etc/edge-talker/config.toml")


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
