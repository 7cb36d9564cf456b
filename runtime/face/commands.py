"""`edge-talker avatar enroll|list|show|remove|preview`: the command line's avatar sub-commands."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

from runtime.face import bundle
from runtime.verbs import Verbs, run

if TYPE_CHECKING:
    from runtime.places import Places


def _enroll(settings, places: Places, args: argparse.Namespace) -> str:
    from runtime.face import avatars

    name = args.name
    if name is None:
        name = re.sub(r"[^a-z0-9_-]+", "-", Path(args.photo).stem.lower()).strip("-_")[:64] or "avatar"
    bundle.check_name(name)
    folder = avatars.enroll_photo_in(places, settings.avatar, Path(args.photo), name, replace=args.replace)
    meta = bundle.load(places.state, name).meta
    return f"enrolled {name} in {folder} (head {meta['head_px']} px, {meta['enroll_s']} s)"


def _show(settings, places: Places, name: str) -> dict:
    from runtime.face import avatars

    return avatars.load_avatar_in(places, settings.avatar, name).meta


def _preview(settings, places: Places, args: argparse.Namespace) -> str:
    import cv2

    from runtime.core.errors import AvatarFault
    from runtime.face import avatars

    sheet = avatars.contact_sheet(avatars.renderer(avatars.load_avatar_in(places, settings.avatar, args.name)))
    if not cv2.imwrite(args.out, cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
        raise AvatarFault("avatar-preview-out-unwritable", f"cannot write {args.out}", "write it elsewhere")
    return f"{args.out}: {', '.join(avatars.POSES)}"


VERBS = Verbs(bundle.AVATARS, "(none yet: the default avatar is enrolled on first use)", _enroll, _show, _preview,
              ".png")


def main(args: argparse.Namespace) -> int:
    """Run one avatar sub-command; returns the exit code."""
    return run(VERBS, args)
