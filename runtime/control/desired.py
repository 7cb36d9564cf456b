"""The configuration operators applied (fleet or API), kept in the state directory across reboots.

The device's own config file is the base; the applied document is laid over it and the result is
validated by the one schema. Tables merge key by key, except where a key names a whole thing: a
backend section whose `type` changes and a persona (`personas.<id>`) are replaced whole.
`config.apply` replaces the applied document; a single setting (persona, volume, ...) changes one
key of it. The file is written atomically with mode 0600 and holds no secrets (the schema has none).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from runtime.config import Settings, check_document, parse_config
from runtime.control.remote_paths import check_remote_paths
from runtime.core.compat import tomllib
from runtime.core.errors import ConfigFault, ControlFault
from runtime.core.messages import Message, PutPersona, SetAvatar, SetMute, SetPersona, SetVoice, SetVolume
from runtime.places import Places

_LOGGER = logging.getLogger(__name__)

APPLIED_FILE = "applied-config.json"
_ATOMIC = ("personas",)
"""Tables whose entries are replaced whole, never merged key by key."""


@dataclass(frozen=True)
class Applied:
    """What operators applied over the config file."""

    version: str = ""
    """The version the operator gave the last config.apply ("" before any)."""
    overlay: dict = field(default_factory=dict)
    """The applied document (config sections and keys)."""
    applied_at: float = 0.0
    """When it was last changed (unix seconds)."""
    problem: str = ""
    """Why the stored document was ignored at start (not stored)."""
    trial: bool = False
    """Not yet seen healthy: a start that fails, or that is not healthy in time, rolls it back."""
    starts: int = 0
    """Process starts with this document on trial (a second one means the first died)."""
    good: dict | None = None
    """The last good document ({"version", "overlay", "applied_at"}) while this one is on trial."""
    rolled_back: dict = field(default_factory=dict)
    """The last document rolled back: {"code", "version", "reason", "at"} (reported to the fleet)."""

    def as_good(self) -> dict:
        """This document as the last good one."""
        return {"version": self.version, "overlay": self.overlay, "applied_at": self.applied_at}


def merge(base: dict, overlay: dict, path: str = "") -> dict:
    """base with overlay laid over it (neither is changed)."""
    out = dict(base)
    for key, value in overlay.items():
        old = out.get(key)
        whole = path in _ATOMIC or (isinstance(old, dict) and isinstance(value, dict)
                                    and "type" in value and value.get("type") != old.get("type"))
        if isinstance(old, dict) and isinstance(value, dict) and not whole:
            out[key] = merge(old, value, f"{path}.{key}" if path else key)
        else:
            out[key] = value
    return out


def effective(base: Settings, overlay: dict, source: str = "applied config") -> Settings:
    """effective_in() the places the base config's [paths] name."""
    return effective_in(Places.of(base.paths), base, overlay, source)


def effective_in(places: Places, base: Settings, overlay: dict, source: str = "applied config") -> Settings:
    """Validate the base config with the overlay on top; ConfigFault (every problem) when invalid,
    config-path-not-remote when it points the device at files its config file does not, outside
    `places` (runtime.control.remote_paths)."""
    check_document(overlay, source)
    data = merge(base.model_dump(mode="json"), overlay)
    settings = parse_config(_to_toml(data, source), source, config_dir=base.config_dir)
    check_remote_paths(base, settings, source, places.roots)
    return settings


def _to_toml(data: dict, source: str) -> str:
    """TOML text of a document, so that it is validated exactly as a config file is."""
    import tomli_w

    try:
        return tomli_w.dumps(data)
    except (TypeError, ValueError) as err:
        raise ConfigFault("config-invalid", f"{source} cannot be a config: {err}",
                          "send tables, strings, numbers, booleans and lists only (no null)") from err


def parse_document(toml: str | None, json_doc: Any) -> dict:
    """The document of a config.apply request: TOML text or a JSON object."""
    if (toml is None) == (json_doc is None):
        raise ControlFault("command-invalid", "config.apply needs exactly one of `toml` and `json`",
                           'send {"toml": "...", "version": "..."} or {"json": {...}, "version": "..."}')
    if json_doc is not None:
        if not isinstance(json_doc, dict):
            raise ControlFault("command-invalid", "`json` must be an object of config sections",
                               'e.g. {"json": {"play": {"volume": 0.5}}, "version": "v2"}')
        return json_doc
    try:
        return parse_toml(toml)
    except tomllib.TOMLDecodeError as err:
        raise ConfigFault("config-syntax", f"the applied config is not valid TOML: {err}",
                          "fix the line named above") from err


def parse_toml(text: str) -> dict:
    """TOML text as a document, refused when nested beyond the bound (no RecursionError)."""
    try:
        data = tomllib.loads(text)
    except RecursionError as err:
        raise ConfigFault("config-too-deep", "the applied config nests too deep",
                          "see config/default.toml for the shape of a config") from err
    check_document(data, "the applied config")
    return data


def changed_paths(old: Settings, new: Settings) -> set[str]:
    """Dotted keys whose values differ (a persona counts as one key)."""
    return _diff(old.model_dump(mode="json"), new.model_dump(mode="json"))


def _diff(a: dict, b: dict, path: str = "") -> set[str]:
    out = set()
    for key in set(a) | set(b):
        where = f"{path}.{key}" if path else key
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict) and path not in _ATOMIC:
            out |= _diff(x, y, where)
        elif x != y:
            out.add(where)
    return out


class AppliedStore:
    """applied-config.json in the state directory."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / APPLIED_FILE

    def load(self) -> Applied:
        """What was applied; empty when nothing was. A damaged file is a ConfigFault."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("overlay", {}), dict):
                raise ValueError("not an object with an overlay object")
            good = data.get("good")
            return Applied(str(data.get("version", "")), data.get("overlay", {}), float(data.get("applied_at", 0)),
                           trial=bool(data.get("trial", False)), starts=int(data.get("starts", 0)),
                           good=good if isinstance(good, dict) else None,
                           rolled_back=dict(data.get("rolled_back") or {}))
        except FileNotFoundError:
            return Applied()
        except (OSError, ValueError, TypeError) as err:
            raise ConfigFault("config-applied-damaged", f"{self.path} cannot be read: {err}",
                              "apply the config again, or delete the file to go back to the config file") from err

    def save(self, applied: Applied) -> None:
        """Write atomically (a crash leaves the old or the new file, never half of one), mode 0600."""
        doc = {"version": applied.version, "applied_at": applied.applied_at, "overlay": applied.overlay}
        if applied.trial:
            doc.update(trial=True, starts=applied.starts, good=applied.good)
        if applied.rolled_back:
            doc["rolled_back"] = applied.rolled_back
        text = json.dumps(doc, indent=1, ensure_ascii=False)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.part")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
        except OSError as err:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise ControlFault("config-persist-failed", f"cannot write {self.path}: {err}",
                               "check free space and permissions of the state directory; nothing was changed") from err


    def roll_back(self, applied: Applied, reason: str) -> Applied:
        """Replace a failed document by the last good one (none: the config file alone), with a
        note of what was rolled back and why; returns what is now applied."""
        good = applied.good or {}
        note = {"code": "config-rolled-back", "version": applied.version, "reason": reason[:2000],
                "at": round(time.time(), 3)}
        back = Applied(str(good.get("version", "")), dict(good.get("overlay") or {}),
                       float(good.get("applied_at", 0)), rolled_back=note)
        _LOGGER.error("error[config-rolled-back]: the applied config %r was rolled back to %r: %s\n"
                      "  hint: fix the document and apply it again", applied.version, back.version, reason)
        self.save(back)
        return back

    def confirm(self, applied: Applied) -> Applied:
        """The document on trial came up healthy: it is the new last good one."""
        good = replace(applied, trial=False, starts=0, good=None)
        self.save(good)
        _LOGGER.info("applied config %r confirmed", applied.version)
        return good


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_effective(base: Settings) -> tuple[Settings, Applied, AppliedStore]:
    """load_effective_in() the places the config's [paths] name."""
    return load_effective_in(Places.of(base.paths), base)


def load_effective_in(places: Places, base: Settings) -> tuple[Settings, Applied, AppliedStore]:
    """The settings to run with: the config file plus what operators applied (kept in the state
    directory). A document on trial gets one start: if the process comes back with it still on
    trial, that start failed and it is rolled back to the last good one. A document that does not
    validate (on trial, or after an upgrade changed the schema) is rolled back or ignored with a
    logged error, so the device still starts and stays reachable."""
    store = AppliedStore(places.state)
    try:
        applied = store.load()
        if applied.trial and applied.starts >= 1:
            applied = store.roll_back(applied, "the kiosk did not come up healthy with it (the process ended)")
        elif applied.trial:
            applied = replace(applied, starts=applied.starts + 1)
            store.save(applied)
    except (ConfigFault, ControlFault) as fault:
        _LOGGER.error("ignoring the applied config: %s", fault.as_text())
        return base, Applied(problem=fault.as_text()), store
    try:
        return _with_overlay(places, base, applied, store), applied, store
    except ConfigFault as fault:
        if applied.trial:
            applied = store.roll_back(applied, fault.as_text())
            try:
                return _with_overlay(places, base, applied, store), applied, store
            except ConfigFault as again:
                fault = again
        _LOGGER.error("ignoring the applied config: %s", fault.as_text())
        return base, replace(applied, overlay={}, problem=fault.as_text()), store


def _with_overlay(places: Places, base: Settings, applied: Applied, store: AppliedStore) -> Settings:
    if not applied.overlay:
        return base
    settings = effective_in(places, base, applied.overlay, str(store.path))
    _LOGGER.info("applied config %r from %s%s", applied.version, store.path, " (on trial)" if applied.trial else "")
    return settings


def next_applied(current: Applied, overlay: dict, version: str | None, *, restart: bool) -> Applied:
    """The document after an operator's change: a change that restarts the process is on trial,
    with the last good document kept to roll back to."""
    version = version if version is not None else current.version
    if not restart:
        return Applied(version, overlay, round(time.time(), 3), trial=current.trial, starts=current.starts,
                       good=current.good)
    good = current.good if current.trial and current.good is not None else current.as_good()
    return Applied(version, overlay, round(time.time(), 3), trial=True, good=good)


def live_messages(new: Settings, live: set[str]) -> list[Message]:
    """The bus messages that make running actors take the changed settings (personas first)."""
    out: list[Message] = []
    for path in sorted(live, key=lambda p: (not p.startswith("personas."), p)):
        if path.startswith("personas."):
            pid = path.split(".", 1)[1]
            persona = new.personas.get(pid)
            out.append(PutPersona(persona=pid, persona_json=persona.folded().model_dump_json() if persona else ""))
        elif path == "think.persona":
            out.append(SetPersona(persona=new.think.persona))
        elif path == "avatar.name":
            out.append(SetAvatar(avatar=new.avatar.name))
        elif path == "speak.voice":
            out.append(SetVoice(voice=new.speak.voice))
        elif path.startswith("speak.") and path.endswith(".voice"):
            out.append(SetVoice(voice=getattr(new.speak, path.split(".")[1]).voice))
        elif path == "play.volume":
            out.append(SetVolume(level=new.play.volume))
        elif path == "play.mute":
            out.append(SetMute(on=new.play.mute))
    return out
