"""Avatar bundles in the state directory: save, load, list, remove; the default avatar.

A bundle is a folder `avatars/<name>/` holding portrait.png, landmarks.npy (468 x 3, portrait
pixels), meta.json, and the original photo only when [avatar] keep_original is set. The rig, the
mouth interior (shaded from the lip colour) and the eyelids (the portrait's own lid skin) are
derived from these when the avatar is loaded: 50 ms, so they are not stored.

`avatars/<name>` is a symlink to a hidden version folder `avatars/.<name>.<version>`: a bundle is
written whole into a new version, then the link is switched to it with one rename, so an avatar
being replaced is never missing or half-written, for any reader. Changes hold `avatars/.lock`, so
concurrent enrollments of one name cannot trip over each other, and a reader holds it shared,
so the version it reads is not deleted under it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from runtime.core.errors import AvatarFault
from runtime.core.paths import file_lock
from runtime.face.enroll import Enrolled

DEFAULT = "default"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_LOCK = ".lock"


@dataclass
class Avatar:
    """A loaded bundle."""

    name: str
    portrait: np.ndarray
    landmarks: np.ndarray
    meta: dict


def avatars_dir(state: Path) -> Path:
    """Where bundles live."""
    return state / "avatars"


def check_name(name: str) -> str:
    """A bundle name: lower-case letters, digits, - and _."""
    if not _NAME.fullmatch(name):
        raise AvatarFault("avatar-bad-name", f"{name!r} is not a valid avatar name",
                          "use 1-64 lower-case letters, digits, - or _, starting with a letter or digit")
    return name


def exists(state: Path, name: str) -> bool:
    """True when an avatar of this name is enrolled."""
    return (avatars_dir(state) / check_name(name)).is_dir()


def refuse_existing(state: Path, name: str) -> None:
    """avatar-exists when the name is taken (re-enrolling must be asked for)."""
    if exists(state, name):
        raise AvatarFault("avatar-exists", f"an avatar {name!r} already exists",
                          "pass --replace to enroll the photo in its place, or choose another --name")


def save(state: Path, name: str, enrolled: Enrolled, photo: Path | None = None, *, replace: bool = False) -> Path:
    """Write a bundle as a new version and switch the avatar to it atomically; avatar-exists when
    the name is taken and replace is False. Returns the avatar's folder (the link)."""
    root = avatars_dir(state)
    link = root / check_name(name)
    root.mkdir(parents=True, exist_ok=True)
    with file_lock(root / _LOCK):
        if not replace:
            refuse_existing(state, name)
        _remove_orphans(root)
        version = root / f".{name}.{time.time_ns()}"
        try:
            _write(version, name, enrolled, photo)
            old = _switch(link, version)
        except BaseException:
            shutil.rmtree(version, ignore_errors=True)
            raise
        if old is not None:
            shutil.rmtree(old)
    return link


def _write(folder: Path, name: str, enrolled: Enrolled, photo: Path | None) -> None:
    folder.mkdir()
    if not cv2.imwrite(str(folder / "portrait.png"), cv2.cvtColor(enrolled.portrait, cv2.COLOR_RGB2BGR)):
        raise AvatarFault("avatar-write-failed", f"cannot write the portrait into {folder}",
                          "check that the state directory is writable and not full")
    np.save(folder / "landmarks.npy", enrolled.landmarks)
    meta = dict(enrolled.meta, name=name, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), version=1,
                original=None)
    if photo is not None:
        meta["original"] = "original" + photo.suffix.lower()
        shutil.copyfile(photo, folder / meta["original"])
    (folder / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")


def _switch(link: Path, version: Path) -> Path | None:
    """Point `link` at `version` with one rename; returns the folder it pointed to before, if any."""
    old = None
    if link.is_symlink():
        old = link.parent / os.readlink(link)
    elif link.is_dir():  # a bundle from before versions: step it aside (the one non-atomic switch)
        old = link.with_name(f".{link.name}.{time.time_ns()}.old")
        link.rename(old)
    fresh = link.with_name(f".{link.name}.link")
    fresh.unlink(missing_ok=True)
    fresh.symlink_to(version.name)
    os.replace(fresh, link)
    return old


def _remove_orphans(root: Path) -> None:
    """Version folders no avatar links to: left by an enrollment that was killed (called with the lock held)."""
    linked = {os.readlink(p) for p in root.iterdir() if p.is_symlink() and not p.name.startswith(".")}
    for path in root.iterdir():
        if path.name.startswith(".") and path.name != _LOCK and path.name not in linked:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def load(state: Path, name: str) -> Avatar:
    """Load a bundle; avatar-unknown / avatar-damaged when it cannot be used."""
    link = avatars_dir(state) / check_name(name)
    lock = link.with_name(_LOCK)
    # Shared: a replacement may switch the link meanwhile, but cannot delete the version being read.
    with file_lock(lock, shared=True) if lock.exists() else contextlib.nullcontext():
        folder = link.resolve()  # once: every file comes from the same version
        if not folder.is_dir():
            raise AvatarFault("avatar-unknown", f"no avatar {name!r}",
                              "`edge-talker avatar list` shows the avatars; `avatar enroll PHOTO --name NAME` adds one")
        return _read(folder, name)


def _read(folder: Path, name: str) -> Avatar:
    try:
        portrait = cv2.cvtColor(cv2.imread(str(folder / "portrait.png")), cv2.COLOR_BGR2RGB)
        landmarks = np.load(folder / "landmarks.npy")
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if landmarks.shape != (468, 3) or portrait.shape[:2] != (meta["resolution"],) * 2:
            raise ValueError("landmarks or portrait have the wrong shape")
    except (cv2.error, OSError, ValueError, KeyError) as err:
        raise AvatarFault("avatar-damaged", f"avatar {name!r} is damaged: {err}",
                          f"enroll it again, or `edge-talker avatar remove {name}`") from err
    return Avatar(name, portrait, landmarks, meta)


def names(state: Path) -> list[str]:
    """The enrolled avatars."""
    folder = avatars_dir(state)
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if folder.is_dir() else []


def remove(state: Path, name: str) -> None:
    """Delete a bundle."""
    root = avatars_dir(state)
    link = root / check_name(name)
    if not link.is_dir():
        raise AvatarFault("avatar-unknown", f"no avatar {name!r}", "`edge-talker avatar list` shows the avatars")
    with file_lock(root / _LOCK):
        if link.is_symlink():
            target = link.parent / os.readlink(link)
            link.unlink()
            shutil.rmtree(target, ignore_errors=True)
        elif link.is_dir():
            shutil.rmtree(link)
