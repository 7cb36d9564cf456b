"""Named folders in the state directory (avatars, enrolled voices), each replaced atomically.

`<root>/<name>` is a symlink to a hidden version folder `<root>/.<name>.<version>`: a folder is
written whole into a new version, then the link is switched to it with one rename, so a name being
replaced is never missing or half-written, for any reader. Changes hold `<root>/.lock`, so
concurrent writes of one name cannot trip over each other, and a reader holds it shared, so the
version it reads is not deleted under it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from runtime.core.paths import file_lock

_LOCK = ".lock"


class Versioned:
    """The named folders under one root."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def exists(self, name: str) -> bool:
        """True when a folder of this name is there."""
        return (self.root / name).is_dir()

    def names(self) -> list[str]:
        """The folders' names, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def save(self, name: str, write: Callable[[Path], None], *, refuse: Callable[[], None] | None = None) -> Path:
        """Write a new version with `write(folder)` and switch `name` to it; `refuse()` runs under the
        lock first (it raises when the name must not be replaced). Returns the link."""
        link = self.root / name
        self.root.mkdir(parents=True, exist_ok=True)
        with file_lock(self.root / _LOCK):
            if refuse is not None:
                refuse()
            self._remove_orphans()
            version = self.root / f".{name}.{time.time_ns()}"
            try:
                version.mkdir()
                write(version)
                old = _switch(link, version)
            except BaseException:
                shutil.rmtree(version, ignore_errors=True)
                raise
            if old is not None:
                shutil.rmtree(old)
        return link

    @contextlib.contextmanager
    def reading(self, name: str) -> Iterator[Path]:
        """The folder `name` points to now (it may not exist), kept while the block reads it."""
        link = self.root / name
        lock = self.root / _LOCK
        # Shared: a replacement may switch the link meanwhile, but cannot delete the version being read.
        with file_lock(lock, shared=True) if lock.exists() else contextlib.nullcontext():
            yield link.resolve()  # once: every file comes from the same version

    def remove(self, name: str) -> bool:
        """Delete a folder; False when there was none."""
        link = self.root / name
        if not link.is_dir():
            return False
        with file_lock(self.root / _LOCK):
            if link.is_symlink():
                target = link.parent / os.readlink(link)
                link.unlink()
                shutil.rmtree(target, ignore_errors=True)
            elif link.is_dir():
                shutil.rmtree(link)
        return True

    def _remove_orphans(self) -> None:
        """Version folders no name links to: left by a write that was killed (called with the lock held)."""
        linked = {os.readlink(p) for p in self.root.iterdir() if p.is_symlink() and not p.name.startswith(".")}
        for path in self.root.iterdir():
            if path.name.startswith(".") and path.name != _LOCK and path.name not in linked:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)


def _switch(link: Path, version: Path) -> Path | None:
    """Point `link` at `version` with one rename; returns the folder it pointed to before, if any."""
    old = None
    if link.is_symlink():
        old = link.parent / os.readlink(link)
    elif link.is_dir():  # a folder from before versions: step it aside (the one non-atomic switch)
        old = link.with_name(f".{link.name}.{time.time_ns()}.old")
        link.rename(old)
    fresh = link.with_name(f".{link.name}.link")
    fresh.unlink(missing_ok=True)
    fresh.symlink_to(version.name)
    os.replace(fresh, link)
    return old
