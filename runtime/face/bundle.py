"""Avatar bundles in the state directory: save, load, list, remove; the default avatar.

A bundle is a folder `avatars/<name>/` holding portrait.png, landmarks.npy (468 x 3, portrait
pixels), meta.json, and the original photo only when [avatar] keep_original is set. The rig, the
mouth interior (shaded from the lip colour) and the eyelids (the portrait's own lid skin) are
derived from these when the avatar is loaded: 50 ms, so they are not stored.

Bundles are versioned folders (runtime.store.versioned): an avatar being replaced is never
missing or half-written, for any reader.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from runtime.core.errors import AvatarFault
from runtime.face.enroll import Enrolled
from runtime.store.bundles import BundleKind

DEFAULT = "default"
AVATARS = BundleKind("avatar", "avatars", AvatarFault, "an avatar", "avatar", "photo")


@dataclass
class Avatar:
    """A loaded bundle."""

    name: str
    portrait: np.ndarray
    landmarks: np.ndarray
    meta: dict


avatars_dir, names, remove = AVATARS.root, AVATARS.names, AVATARS.remove
check_name, exists, refuse_existing = AVATARS.check_name, AVATARS.exists, AVATARS.refuse_existing


def save(state: Path, name: str, enrolled: Enrolled, photo: Path | None = None, *, replace: bool = False) -> Path:
    """Write a bundle as a new version and switch the avatar to it atomically; avatar-exists when
    the name is taken and replace is False. Returns the avatar's folder (the link)."""
    return AVATARS.save(state, name, lambda folder: _write(folder, name, enrolled, photo), replace=replace)


def _write(folder: Path, name: str, enrolled: Enrolled, photo: Path | None) -> None:
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


def load(state: Path, name: str) -> Avatar:
    """Load a bundle; avatar-unknown / avatar-damaged when it cannot be used."""
    return AVATARS.read(state, name, lambda folder: _read(folder, name))


def _read(folder: Path, name: str) -> Avatar:
    try:
        portrait = cv2.cvtColor(cv2.imread(str(folder / "portrait.png")), cv2.COLOR_BGR2RGB)
        landmarks = np.load(folder / "landmarks.npy")
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if landmarks.shape != (468, 3) or portrait.shape[:2] != (meta["resolution"],) * 2:
            raise ValueError("landmarks or portrait have the wrong shape")
    except (cv2.error, OSError, ValueError, KeyError) as err:
        raise AVATARS.damaged(name, err) from err
    return Avatar(name, portrait, landmarks, meta)
