"""Where the model store and the app state live on this machine."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def models_dir(configured: str = "") -> Path:
    """Model store: config, else $EDGE_TALKER_MODELS, else $STATE_DIRECTORY/models, else ~/.cache."""
    if configured:
        return Path(configured).expanduser()
    if os.environ.get("EDGE_TALKER_MODELS"):
        return Path(os.environ["EDGE_TALKER_MODELS"])
    if os.environ.get("STATE_DIRECTORY"):
        return _first(os.environ["STATE_DIRECTORY"]) / "models"
    return Path.home() / ".cache" / "edge-talker" / "models"


def state_dir(configured: str = "") -> Path:
    """App state (avatars): config, else $EDGE_TALKER_STATE, else $STATE_DIRECTORY, else ~/.local/share."""
    if configured:
        return Path(configured).expanduser()
    if os.environ.get("EDGE_TALKER_STATE"):
        return Path(os.environ["EDGE_TALKER_STATE"])
    if os.environ.get("STATE_DIRECTORY"):
        return _first(os.environ["STATE_DIRECTORY"])
    return Path.home() / ".local" / "share" / "edge-talker"


def cache_dir() -> Path:
    """Rebuildable caches (a word-segmentation dictionary): $CACHE_DIRECTORY (systemd), else ~/.cache."""
    folder = _first(os.environ["CACHE_DIRECTORY"]) if os.environ.get("CACHE_DIRECTORY") \
        else Path.home() / ".cache" / "edge-talker"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _first(colon_list: str) -> Path:
    # systemd passes several directories separated by colons when StateDirectory= lists several.
    return Path(colon_list.split(":")[0])


@contextmanager
def file_lock(lock_path: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold a lock on a file between processes for the duration of the block: exclusive (the file
    is created), or shared with other shared holders (the file must exist)."""
    with open(lock_path, "r" if shared else "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
