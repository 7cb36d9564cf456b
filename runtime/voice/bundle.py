"""Enrolled voices in the state directory: save, load, list, remove.

A voice is a versioned folder `voices/<name>/` (runtime.store.versioned) holding style.npy (the
Kokoro style tensor, float32 [510, 256]: 0.5 MB) and meta.json (language, the stock voices it was
matched from, its scores, how long enrollment took); the sample itself only when [voice]
keep_sample is set.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.core.errors import VoiceFault
from runtime.engines.tts import is_stock_voice
from runtime.store.versioned import Versioned

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
SHAPE = (510, 256)


@dataclass
class Voice:
    """A loaded voice."""

    name: str
    style: np.ndarray
    meta: dict

    @property
    def language(self) -> str:
        """The language it was enrolled for (en or zh)."""
        return self.meta.get("language", "en")


def voices_dir(state: Path) -> Path:
    """Where enrolled voices live."""
    return state / "voices"


def _store(state: Path) -> Versioned:
    return Versioned(voices_dir(state))


def check_name(name: str) -> str:
    """A voice name: lower-case letters, digits, - and _, not like a stock voice's."""
    if not _NAME.fullmatch(name) or is_stock_voice(name):
        raise VoiceFault("voice-bad-name", f"{name!r} is not a valid voice name",
                         "use 1-64 lower-case letters, digits, - or _, starting with a letter or digit, and not "
                         "shaped like a stock voice (xx_name) or a model id (tts-...); e.g. anna or anna-2")
    return name


def is_enrolled(state: Path, name: str) -> bool:
    """True when `name` is an enrolled voice (False for any stock voice or path)."""
    return bool(name) and bool(_NAME.fullmatch(name)) and not is_stock_voice(name) and _store(state).exists(name)


def refuse_existing(state: Path, name: str) -> None:
    """voice-exists when the name is taken (re-enrolling must be asked for)."""
    if _store(state).exists(check_name(name)):
        raise VoiceFault("voice-exists", f"a voice {name!r} already exists",
                         "pass --replace to enroll the sample in its place, or choose another --name")


def save(state: Path, name: str, style: np.ndarray, meta: dict, sample: Path | None = None, *,
         replace: bool = False) -> Path:
    """Write a voice as a new version and switch to it atomically; voice-exists when the name is
    taken and replace is False. Returns the voice's folder."""
    check_name(name)

    def write(folder: Path) -> None:
        np.save(folder / "style.npy", np.asarray(style, np.float32).reshape(SHAPE))
        full = dict(meta, name=name, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), version=1, sample=None)
        if sample is not None:
            full["sample"] = "sample" + sample.suffix.lower()
            shutil.copyfile(sample, folder / full["sample"])
        (folder / "meta.json").write_text(json.dumps(full, indent=1, ensure_ascii=False), encoding="utf-8")

    return _store(state).save(name, write, refuse=None if replace else lambda: refuse_existing(state, name))


def load(state: Path, name: str) -> Voice:
    """Load a voice; voice-unknown / voice-damaged when it cannot be used."""
    with _store(state).reading(check_name(name)) as folder:
        if not folder.is_dir():
            raise VoiceFault("voice-unknown", f"no enrolled voice {name!r}",
                             "`edge-talker voice list` shows the voices; `voice enroll SAMPLE --name NAME` adds one")
        try:
            style = np.load(folder / "style.npy", allow_pickle=False)
            meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            if style.shape != SHAPE or style.dtype != np.float32 or not np.isfinite(style).all():
                raise ValueError(f"the style tensor is {style.dtype} {style.shape}, expected float32 {SHAPE}")
            if not isinstance(meta, dict):
                raise ValueError("meta.json is not an object")
        except (OSError, ValueError) as err:
            raise VoiceFault("voice-damaged", f"voice {name!r} is damaged: {err}",
                             f"enroll it again, or `edge-talker voice remove {name}`") from err
    return Voice(name, style, meta)


def language(state: Path, name: str) -> str:
    """The language an enrolled voice speaks (its metadata only: for listings and status)."""
    with _store(state).reading(check_name(name)) as folder:
        try:
            return json.loads((folder / "meta.json").read_text(encoding="utf-8")).get("language", "en")
        except (OSError, ValueError, AttributeError) as err:
            raise VoiceFault("voice-damaged", f"voice {name!r} is damaged: {err}",
                             f"enroll it again, or `edge-talker voice remove {name}`") from err


def names(state: Path) -> list[str]:
    """The enrolled voices."""
    return _store(state).names()


def remove(state: Path, name: str) -> None:
    """Delete a voice."""
    if not _store(state).remove(check_name(name)):
        raise VoiceFault("voice-unknown", f"no enrolled voice {name!r}", "`edge-talker voice list` shows the voices")
