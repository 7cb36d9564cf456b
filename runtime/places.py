"""Where this product's files are: the state directory and the model store, resolved once from
[paths] (runtime.core.paths says what an empty setting means) and handed to each part that needs
one. [paths] is the installer's: operators cannot change it (runtime.control.remote_paths), so
one resolution holds for the life of the process."""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from runtime.core.errors import RuntimeFault
from runtime.core.paths import models_dir, state_dir
from runtime.store.models import ModelStore

if TYPE_CHECKING:
    from runtime.config import PathsConfig


@dataclass(frozen=True)
class Places:
    """The places of one configuration's files."""

    state: Path
    """App state: avatars, enrolled voices, what operators applied, demo clips."""
    models: ModelStore
    """The model store."""

    @classmethod
    def of(cls, paths: PathsConfig) -> Places:
        """The places a [paths] section names."""
        return cls(state_dir(paths.state), ModelStore(models_dir(paths.models)))

    @property
    def recordings(self) -> Path:
        """Demo clips (a terminal with no window and no recording configured)."""
        return self.state / "recordings"

    @property
    def roots(self) -> list[Path]:
        """The model store's folder and the state directory: where a remote document may point."""
        return [self.models.root, self.state]

    def lock(self) -> TextIO:
        """One product per state directory: a second `run` on it refuses (it would fight over the
        speaker, the display and the files). The lock is an flock, released by the kernel however
        the process ends, so a killed run leaves nothing to clean up. Returns the open lock file."""
        state = self.state
        try:
            state.mkdir(parents=True, exist_ok=True, mode=0o700)
            handle = open(state / "edge-talker.lock", "a+", encoding="utf-8")
        except OSError as err:
            raise RuntimeFault("run-state-unwritable", f"cannot use the state directory {state}: {err}",
                               "set [paths] state or $EDGE_TALKER_STATE to a writable directory") from err
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            other = handle.read().strip() or "another process"
            handle.close()
            raise RuntimeFault("run-already-running", f"EdgeTalker already runs on {state} (pid {other})",
                               "stop it first (systemctl stop edge-talker), or give this one its own "
                               "[paths] state") from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        return handle
