"""Rounded lips on an open jaw: the jaw's opening follows the corners that rounding draws in.

The rig's fields are summed per frame, each built where the portrait's features are at rest. The
jaw tears the photo along the lips' parting line and opens a lens from corner to corner; rounded
lips (lip_round) draw the corners in. Summed, the corners' pixels (where the upper lip, the lower
lip and the photo's seam between them meet) were carried in over the jaw's tear and cut by it:
the part below the tear dropped with the jaw, drawn out into pale or pink vertical bands down both
sides of the O (and the photo's thin row of teeth there into white streaks). Here the jaw opens
first and the lips round what it opened: at output p the jaw is looked up where the rounding
takes p from, p - R(p). Its difference from the jaw's own field is one more field, weighted by
jaw x round per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from runtime.face.press import taper
from runtime.face.rig import Field


def follow(jaw: Field, rnd: Field) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """(box, displacement) of J(p - R(p)) - J(p) over the region both fields cover (`jaw`, `rnd`:
    the rig's jaw_open and lip_round fields at 1), tapered to nothing at the region's border."""
    x0, y0 = max(jaw.x0, rnd.x0), max(jaw.y0, rnd.y0)
    x1, y1 = min(jaw.x1, rnd.x1), min(jaw.y1, rnd.y1)
    if x1 <= x0 or y1 <= y0:
        return (x0, y0, x0, y0), np.zeros((0, 0, 2), np.float32)
    r = rnd.d[y0 - rnd.y0:y1 - rnd.y0, x0 - rnd.x0:x1 - rnd.x0]
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    # (where p - R(p) falls in the jaw's region, in its own pixel coordinates)
    sx, sy = xx - r[..., 0] - np.float32(jaw.x0), yy - r[..., 1] - np.float32(jaw.y0)
    moved = np.stack([cv2.remap(np.ascontiguousarray(jaw.d[..., k]), sx, sy, cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0) for k in range(2)], axis=-1)
    d = moved - jaw.d[y0 - jaw.y0:y1 - jaw.y0, x0 - jaw.x0:x1 - jaw.x0]
    d *= taper(d.shape[:2])[..., None]
    return (x0, y0, x1, y1), d.astype(np.float32)


def forward(rnd_at, points: np.ndarray, jaw_moves: np.ndarray) -> np.ndarray:
    """How much further rounded lips move `points` ((n, 2) in the portrait) once the jaw has moved
    them by `jaw_moves` first: R(q + J(q)) - R(q) (`rnd_at(points)`: the lip_round field at points)."""
    return rnd_at(points + jaw_moves) - rnd_at(points)


@dataclass
class RoundedJaw:
    """The jaw's field and motions as rounded lips change them, per unit of jaw x round."""

    field: Field
    """J(p - R(p)) - J(p) (runtime.face.rounded.follow)."""
    landmarks: np.ndarray
    """(468, 2) how much further each landmark moves."""
    split: tuple[np.ndarray, np.ndarray]
    """Just above and just below the parting line (as Rig.split_moves)."""
    seam: np.ndarray | None
    """The seam's points (as Rig.seam_moves), or None."""


def build(rig, landmarks: np.ndarray, step: float = 3.0) -> RoundedJaw | None:
    """The rounded jaw of a rig (runtime.face.rig.Rig) built on these landmarks ((n, 2)); None when
    the rig has no jaw or no rounding."""
    jaw, rnd = rig.fields.get("jaw_open"), rig.fields.get("lip_round")
    if jaw is None or rnd is None:
        return None
    (x0, y0, x1, y1), d = follow(jaw, rnd)

    def at(points: np.ndarray) -> np.ndarray:
        h, w = rnd.d.shape[:2]
        ix, iy = np.round(points[:, 0]).astype(int) - rnd.x0, np.round(points[:, 1]).astype(int) - rnd.y0
        inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
        got = rnd.d[np.clip(iy, 0, h - 1), np.clip(ix, 0, w - 1)]
        return np.where(inside[:, None], got, 0.0).astype(np.float32)

    lm = landmarks[:, :2].astype(np.float32)
    shift = np.array([0.0, step], np.float32)
    above, below = rig.split_moves["jaw_open"]
    split = (forward(at, rig.split - shift, above), forward(at, rig.split + shift, below))
    seam = None
    if rig.seam is not None and "jaw_open" in rig.seam_moves:
        seam = forward(at, rig.seam, rig.seam_moves["jaw_open"])
    return RoundedJaw(Field(y0, y1, x0, x1, d), forward(at, lm, rig.landmark_moves["jaw_open"]), split, seam)
