"""Files named by operators, confined: only inside allowed directories (the config file's and the
state directory), only regular files, bounded in size, opened without following a symbolic link
out of them and without blocking on a FIFO. A refused path outside says the same whether or not
something exists there."""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path


class Refused(ValueError):
    """The path may not be read; the message says why without revealing anything outside."""


def resolve(name: str, roots: Sequence[Path]) -> Path:
    """The real path of `name` (relative: to the first root) when it lies inside one of roots."""
    if not roots:
        raise Refused(f"{name!r} cannot be read: no directory is allowed for it")
    raw = Path(name).expanduser()
    candidate = Path(os.path.abspath(raw if raw.is_absolute() else roots[0] / raw))
    for root in roots:
        top = Path(os.path.abspath(root))
        if candidate.is_relative_to(top):  # lexically inside first: nothing outside is touched
            real = Path(os.path.realpath(candidate))
            if real.is_relative_to(Path(os.path.realpath(top))):
                return real
    allowed = " or ".join(str(r) for r in roots)
    raise Refused(f"{name!r} is not inside an allowed directory ({allowed})")


def read_text(name: str, roots: Sequence[Path], max_bytes: int) -> str:
    """The UTF-8 text of a confined regular file of at most max_bytes; Refused otherwise."""
    path = resolve(name, roots)
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError as err:
        raise Refused(f"{name!r} does not exist") from err
    except OSError as err:
        raise Refused(f"{name!r} cannot be opened: {err.strerror}") from err
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Refused(f"{name!r} is not a regular file")
        if info.st_size > max_bytes:
            raise Refused(f"{name!r} has {info.st_size} bytes, at most {max_bytes} are read")
        data = b""
        while len(data) <= max_bytes:
            block = os.read(fd, max_bytes + 1 - len(data))
            if not block:
                break
            data += block
    finally:
        os.close(fd)
    if len(data) > max_bytes:
        raise Refused(f"{name!r} grew past {max_bytes} bytes while it was read")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise Refused(f"{name!r} is not UTF-8 text") from err
