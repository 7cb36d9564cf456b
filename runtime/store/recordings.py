"""Where recordings go and how many are kept: a series of MP4 files with bounded disk use.

A series is either one named file that continues into numbered siblings (`talk.mp4`,
`talk-2.mp4`, ...) or a directory of time-stamped files (`edge-talker-20261124-101500.mp4`).
A file is closed after `segment_s` seconds or `max_file_mb`; whenever a file is opened, the oldest
files of the series beyond `keep_files` or `keep_mb` are deleted. Files are created 0600 (a
recording shows the visitor's conversation). The series outlives one recorder actor, so a
restarted recorder continues in a new file instead of overwriting the last one.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from runtime.core.errors import RecordFault

_LOGGER = logging.getLogger(__name__)

_STAMPED = re.compile(r"edge-talker-\d{8}-\d{6}(-\d+)?\.mp4")
_HINT = "give a writable .mp4 file in an existing directory"


@dataclass(frozen=True)
class Retention:
    """Bounds of one series."""

    segment_s: float = 600.0
    max_file_mb: float = 500.0
    keep_files: int = 20
    keep_mb: float = 5000.0


class Recordings:
    """The files of one recording series; thread-safe (a restarted recorder shares it)."""

    def __init__(self, target: str | Path, retention: Retention = Retention(), *, directory: bool = False) -> None:
        self.target = Path(target)
        self.directory = directory
        self.retention = retention
        self._lock = threading.Lock()
        self._opened: list[Path] = []

    def check(self) -> None:
        """Refuse a target that cannot be written, before anything is loaded (record-open-failed)."""
        folder = self.target if self.directory else self.target.parent
        if self.directory:
            try:
                folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as err:
                raise RecordFault("record-open-failed", f"cannot create the recordings directory {folder}: {err}",
                                  "give a writable directory") from err
        elif self.target.is_dir():
            raise RecordFault("record-open-failed", f"{self.target} is a directory, not a file", _HINT)
        elif self.target.suffix.lower() != ".mp4":
            raise RecordFault("record-open-failed", f"{self.target} does not end in .mp4", _HINT)
        if not folder.is_dir():
            raise RecordFault("record-open-failed", f"the directory {folder} does not exist", _HINT)
        probe = folder / f".edge-talker-probe-{os.getpid()}"
        try:  # access() says yes to root on /sys and read-only mounts: try for real
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            probe.unlink()
        except OSError as err:
            raise RecordFault("record-open-failed", f"cannot write in {folder}: {err.strerror or err}", _HINT) from err

    def next_path(self) -> Path:
        """The next file of the series (created empty, 0600), after deleting what is beyond the
        bounds."""
        with self._lock:
            path = self._name()
            self._prune(keep_room_for_one=True)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            except OSError as err:
                raise RecordFault("record-open-failed", f"cannot write {path}: {err}", _HINT) from err
            os.close(fd)
            os.chmod(path, 0o600)  # an existing file keeps its mode on O_CREAT
            self._opened.append(path)
            return path

    def files(self) -> list[Path]:
        """The series' files on disk, oldest first."""
        if self.directory:
            found = [p for p in self.target.glob("edge-talker-*.mp4") if _STAMPED.fullmatch(p.name)]
        else:
            pattern = re.compile(re.escape(self.target.stem) + r"-\d+" + re.escape(self.target.suffix))
            found = [p for p in self.target.parent.glob(f"{self.target.stem}-*{self.target.suffix}")
                     if pattern.fullmatch(p.name)]
            if self.target.exists():
                found.append(self.target)
        return sorted(found, key=_mtime)

    def _name(self) -> Path:
        if self.directory:
            stem = time.strftime("edge-talker-%Y%m%d-%H%M%S")
            path, n = self.target / f"{stem}.mp4", 2
            while path.exists() or path in self._opened:
                path, n = self.target / f"{stem}-{n}.mp4", n + 1
            return path
        if not self._opened:
            return self.target  # the file asked for (overwritten, as asked)
        n = len(self._opened) + 1
        path = self.target.with_name(f"{self.target.stem}-{n}{self.target.suffix}")
        while path.exists() and path not in self._opened:
            n += 1
            path = self.target.with_name(f"{self.target.stem}-{n}{self.target.suffix}")
        return path

    def _prune(self, keep_room_for_one: bool) -> None:
        files = self.files()
        limit_files = self.retention.keep_files - (1 if keep_room_for_one else 0)
        budget = self.retention.keep_mb * 2**20 - (self.retention.max_file_mb * 2**20 if keep_room_for_one else 0)
        total = sum(_size(p) for p in files)
        while files and (len(files) > limit_files or total > budget):
            oldest = files.pop(0)
            total -= _size(oldest)
            try:
                oldest.unlink()
                _LOGGER.info("recording %s deleted (keeping %d files, %.0f MB)", oldest,
                             self.retention.keep_files, self.retention.keep_mb)
            except OSError as err:
                _LOGGER.warning("cannot delete old recording %s: %s", oldest, err)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
