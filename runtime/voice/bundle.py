"""Enrolled voices in the state directory: save, load, list, remove.

A voice is a versioned folder `voices/<name>/` (runtime.store.versioned) holding style.npy (the
Kokoro style tensor, float32 [510, 256]: 0.5 MB) and meta.json (language, the stock voices it was
matched from, its scores, how long enrollment took); the sample itself only when [voice]
keep_sample is set.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.core.errors import VoiceFault
from runtime.engines.tts import is_stock_voice
from runtime.store.bundles import BundleKind

VOICES = BundleKind("voice", "voices", VoiceFault, "a voice", "enrolled voice", "sample", reserved=is_stock_voice,
                    reserved_hint=", and not shaped like a stock voice (xx_name) or a model id (tts-...); e.g. anna "
                                  "or anna-2")
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


voices_dir, names, remove = VOICES.root, VOICES.names, VOICES.remove
check_name, refuse_existing = VOICES.check_name, VOICES.refuse_existing


def is_enrolled(state: Path, name: str) -> bool:
    """True when `name` is an enrolled voice (False for any stock voice or path)."""
    return bool(name) and VOICES.valid(name) and VOICES.store(state).exists(name)


def save(state: Path, name: str, style: np.ndarray, meta: dict, sample: Path | None = None, *,
         replace: bool = False) -> Path:
    """Write a voice as a new version and switch to it atomically; voice-exists when the name is
    taken and replace is False. Returns the voice's folder."""
    def write(folder: Path) -> None:
        np.save(folder / "style.npy", np.asarray(style, np.float32).reshape(SHAPE))
        full = dict(meta, name=name, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), version=1, sample=None)
        if sample is not None:
            full["sample"] = "sample" + sample.suffix.lower()
            shutil.copyfile(sample, folder / full["sample"])
        (folder / "meta.json").write_text(json.dumps(full, indent=1, ensure_ascii=False), encoding="utf-8")

    return VOICES.save(state, name, write, replace=replace)


def load(state: Path, name: str) -> Voice:
    """Load a voice; voice-unknown / voice-damaged when it cannot be used."""
    return VOICES.read(state, name, lambda folder: _read(folder, name))


def _read(folder: Path, name: str) -> Voice:
    try:
        style = np.load(folder / "style.npy", allow_pickle=False)
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if style.shape != SHAPE or style.dtype != np.float32 or not np.isfinite(style).all():
            raise ValueError(f"the style tensor is {style.dtype} {style.shape}, expected float32 {SHAPE}")
        if not isinstance(meta, dict):
            raise ValueError("meta.json is not an object")
    except (OSError, ValueError) as err:
        raise VOICES.damaged(name, err) from err
    return Voice(name, style, meta)


def language(state: Path, name: str) -> str:
    """The language an enrolled voice speaks (its metadata only: for listings and status)."""
    with VOICES.store(state).reading(check_name(name)) as folder:
        try:
            return json.loads((folder / "meta.json").read_text(encoding="utf-8")).get("language", "en")
        except (OSError, ValueError, AttributeError) as err:
            raise VOICES.damaged(name, err) from err
