"""Avatar bundles in the state directory: save, load, list, remove; the default avatar.

A bundle is a folder `avatars/<name>/` holding portrait.png, landmarks.npy (468 x 3, portrait
pixels), meta.json, and the original photo only when [avatar] keep_original is set. The rig, the
mouth interior (shaded from the lip colour) and the eyelids (the portrait's own lid skin) are
derived from these when the avatar is loaded: 50 ms, so they are not stored.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from runtime.core.errors import AvatarFault
from runtime.face.enroll import Enrolled

DEFAULT = "default"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


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
    if not _NAME.match(name):
        raise AvatarFault("avatar-bad-name", f"{name!r} is not a valid avatar name",
                          "use 1-64 lower-case letters, digits, - or _")
    return name


def save(state: Path, name: str, enrolled: Enrolled, photo: Path | None = None) -> Path:
    """Write a bundle atomically (a half-written bundle never replaces a good one)."""
    folder = avatars_dir(state) / check_name(name)
    tmp = folder.with_name(f".{name}.{time.monotonic_ns()}")
    tmp.mkdir(parents=True)
    cv2.imwrite(str(tmp / "portrait.png"), cv2.cvtColor(enrolled.portrait, cv2.COLOR_RGB2BGR))
    np.save(tmp / "landmarks.npy", enrolled.landmarks)
    meta = dict(enrolled.meta, name=name, created=time.strftime("%Y-%m-%dT%H:%M:%S%z"), version=1,
                original=None)
    if photo is not None:
        meta["original"] = "original" + photo.suffix.lower()
        shutil.copyfile(photo, tmp / meta["original"])
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    if folder.exists():
        shutil.rmtree(folder)
    tmp.rename(folder)
    return folder


def load(state: Path, name: str) -> Avatar:
    """Load a bundle; avatar-unknown / avatar-damaged when it cannot be used."""
    folder = avatars_dir(state) / check_name(name)
    if not folder.is_dir():
        raise AvatarFault("avatar-unknown", f"no avatar {name!r}",
                          "`edge-talker avatar list` shows the avatars; `avatar enroll PHOTO --name NAME` adds one")
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
    folder = avatars_dir(state) / check_name(name)
    if not folder.is_dir():
        raise AvatarFault("avatar-unknown", f"no avatar {name!r}", "`edge-talker avatar list` shows the avatars")
    shutil.rmtree(folder)
