"""Paths are the installer's: a document applied from outside (the fleet's config.apply, the REST
API, any command that changes a setting) may not point the kiosk at another file or directory than
its own config file does, except inside the model store and the state directory.

A kiosk runs as a service user (often root); a setting that names a file is a read or a write of
that file. So, compared with the config file the device was installed with, a remote document may:
- not change [paths] (they define the allowed directories themselves) nor the [bus] endpoints
  (ipc:// endpoints are socket files);
- set a model (asr/think model, piper voice, Kokoro model and voices, a persona's pinned piper
  voice) to a name (a model id of the manifest; no "/", not starting with "." or "~": one the
  store does not know is refused as unknown, `model-missing` or `tts-voice-unknown`, when the
  change is checked), or to a path inside the model store or state directory;
- set a file read by the kiosk (capture file, TLS files, sherpa model files, the bench report
  folder) to a path inside the model store or the state directory;
- set a file the kiosk writes (recordings) to a path inside the state directory only.
Anything else is refused, before anything is applied, with `config-path-not-remote`. Persona facts
files are confined on their own (runtime.core.confine, the config and state directories).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from runtime.config import LANGUAGES, Settings
from runtime.core import confine
from runtime.core.errors import ConfigFault

FIXED, MODEL, READ, WRITE = "fixed", "model", "read", "write"
"""What a path-valued setting is: the installer's only, a model, a file read, a file written."""
_KEYWORDS = {"remote.tls.ca": "system"}
"""Values of a setting that name no file (besides "", none or the default)."""


def _settings_paths(doc: dict) -> Iterator[tuple[str, str, object]]:
    """(dotted key, kind, value) of every path-valued setting of a config (as model_dump(mode="json"))."""
    def section(dotted: str) -> dict:
        node = doc
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        return node if isinstance(node, dict) else {}

    for key in ("models", "state"):
        yield f"paths.{key}", FIXED, section("paths").get(key)
    for key in ("pub_endpoint", "sub_endpoint"):
        yield f"bus.{key}", FIXED, section("bus").get(key)
    asr = section("asr")
    if asr.get("type") == "sherpa":
        yield "asr.tokens", READ, asr.get("tokens")
        for role, value in sorted((asr.get("files") or {}).items()):
            yield f"asr.files.{role}", READ, value
    else:
        yield "asr.model", MODEL, asr.get("model")
    yield "think.model", MODEL, section("think").get("model")
    engines = {}
    for lang in LANGUAGES:
        speak = section(f"speak.{lang}")
        engines[lang] = speak.get("type")
        if speak.get("type") == "piper":
            yield f"speak.{lang}.voice", MODEL, speak.get("voice")
        for key in ("model", "voices") if speak.get("type") == "kokoro" else ():
            yield f"speak.{lang}.{key}", MODEL, speak.get(key)
    for pid, persona in sorted(section("personas").items()):
        for lang, voice in sorted(((persona or {}).get("voices") or {}).items()):
            if engines.get(lang) == "piper":
                yield f"personas.{pid}.voices.{lang}", MODEL, voice
    yield "capture.path", READ, section("capture").get("path")
    yield "record.path", WRITE, section("record").get("path")
    yield "record.directory", WRITE, section("record").get("directory")
    for key in ("ca", "cert", "key"):
        yield f"remote.tls.{key}", READ, section("remote.tls").get(key)
    yield "api.bench_dir", READ, section("api").get("bench_dir")


def check_remote_paths(base: Settings, new: Settings, source: str, roots: list[Path]) -> None:
    """Refuse (ConfigFault config-path-not-remote, every offending key at once) a document that
    changes a path-valued setting of the config file to a place the rule above does not allow;
    `roots`: the model store's folder and the state directory (runtime.places.Places.roots)."""
    old = dict((key, value) for key, _kind, value in _settings_paths(base.model_dump(mode="json")))
    store, state = roots
    bad = []
    for key, kind, value in _settings_paths(new.model_dump(mode="json")):
        if value is None or value == old.get(key) or (kind != FIXED and value in ("", _KEYWORDS.get(key))):
            continue
        if kind == MODEL and _is_name(value):
            continue  # a name: of the store's models or voices (an unknown one is refused as unknown later)
        roots = {FIXED: [], MODEL: [store, state], READ: [store, state], WRITE: [state]}[kind]
        if roots and _inside(str(value), roots):
            continue
        bad.append(f"{key} = {value!r}")
    if bad:
        raise ConfigFault(
            "config-path-not-remote",
            f"{source} changes settings that name files or directories of the device: {'; '.join(bad)} "
            "(paths are set in the device's own config file)",
            "leave them out of the remote document; a model may be a model id, files the kiosk reads may be "
            f"inside the model store ({store}) or the state directory ({state}), recordings inside the state "
            "directory; for anything else, edit the config file on the device", errors=bad)


def _is_name(value: object) -> bool:
    """A bare name (a model id or voice name), not a path."""
    text = str(value)
    return bool(text) and "/" not in text and os.sep not in text and not text.startswith((".", "~"))


def _inside(value: str, roots: list[Path]) -> bool:
    """True when the path (absolute, or relative to the working directory as the kiosk would open
    it) lies inside one of roots, symbolic links resolved."""
    try:
        confine.resolve(os.path.abspath(os.path.expanduser(value)), roots)
    except confine.Refused:
        return False
    return True
