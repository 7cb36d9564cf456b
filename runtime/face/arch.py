"""The upper edge of a mouth opened between lips closed in the photo: curved down into the corners,
the upper lip's own pixels carried down to it (the line closed lips part on is often straight, and
the opening cut along it had a knife-straight upper edge)."""

from __future__ import annotations

import cv2
import numpy as np

ARCH = 0.3
"""How far the upper edge of an opening between lips closed in the photo arches down into the
corners (a part of the opening's height; arch_edge). Not where a thin row of teeth shows between them
(the bar photo): the lip carried down brought that row with it into the corners."""


def arch_edge(top: np.ndarray, bottom: np.ndarray, arch: float) -> np.ndarray:
    """The opening's upper edge (`top`, (n, 2) left to right) curved down towards the corners (a
    parabola, `arch` of the opening's height at the corners), never below the opening's middle."""
    x = top[:, 0]
    u = np.abs(x - (x[0] + x[-1]) / 2) / max(0.5 * (x[-1] - x[0]), 1.0)
    drop = arch * float((bottom[:, 1] - top[:, 1]).max()) * u ** 2
    out = top.copy()
    out[:, 1] = np.minimum(top[:, 1] + drop, (top[:, 1] + bottom[:, 1]) / 2)
    return out


def lip_down(frame: np.ndarray, flat: np.ndarray, arched: np.ndarray, reach: float) -> None:
    """In place: the upper lip over `reach` rows above `flat` drawn down to `arched` in each column
    (both (n, 2) left to right), its edge and texture with it (a lip thinner by the drop there)."""
    h, w = frame.shape[:2]
    x0, x1 = max(0, int(np.ceil(flat[0, 0]))), min(w, int(flat[-1, 0]) + 1)
    if x1 - x0 < 2:
        return
    xs = np.arange(x0, x1, dtype=np.float32)
    y_from, y_to = np.interp(xs, flat[:, 0], flat[:, 1]), np.interp(xs, arched[:, 0], arched[:, 1])
    drop = y_to - y_from
    y0, y1 = max(0, int(y_from.min() - reach) - 1), min(h, int(np.ceil(y_to.max())) + 3)
    if y1 - y0 < 2 or float(drop.max()) < 0.3:
        return
    yy = np.arange(y0, y1, dtype=np.float32)[:, None]
    # (rows from `reach` above the edge down to the arched edge show the rows from `reach` above
    # down to the flat edge: a linear squeeze, one-to-one, the edge's own row landing on the arch)
    t = np.clip((yy - (y_from - reach)) / (reach + drop), 0.0, 1.0)
    sy = np.where(yy <= y_to, yy - drop * t, yy).astype(np.float32)
    sx = np.broadcast_to(xs[None], sy.shape).astype(np.float32)
    moved = cv2.remap(frame, sx, sy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # (down to the arched edge and a little past it: the painted opening covers the rest)
    inside = (yy < y_to + 2.0)[..., None]
    region = frame[y0:y1, x0:x1]
    region[:] = np.where(inside, moved, region)
