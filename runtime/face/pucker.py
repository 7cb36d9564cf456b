"""Rounded lips (o, u, w): the finished mouth squeezed in towards its middle, its lips made taller.

Rounding the lips in the rig's linear fields pulled the corners in while the jaw's opening, built
where the lips part at rest, stayed a lens from corner to corner: the O read as a smaller, V-shaped
A, and moving the lip line itself tore the photo's teeth. This is a second, smooth warp of the
frame after the lips have parted and the mouth is painted (FaceRenderer._pucker): the opening, the
teeth and the lips round it narrow together into an oval, and the cheeks beside the mouth take up
the stretch.
"""

from __future__ import annotations

import numpy as np

from runtime.face import landmarks as L
from runtime.face.ease import smoothstep

GATHER, THICKEN = 0.45, 0.25
"""Rounded lips (lip_round 1): how far the mouth is drawn in towards its middle (a fraction of the
distance) and how much taller the lips grow about the mouth line (Rig.pucker)."""


def pucker(b, gather: float = GATHER, thicken: float = THICKEN):
    """(box, displacement) of rounded lips pushed forward (o, u, w), as a squeeze of the finished
    mouth (runtime.face.rig.Rig.pucker; `b` is the rig's builder):
    the lips, their corners and the opening between them are drawn in towards the middle by
    `gather` (a fraction of their distance from it), and grow taller about the mouth line by
    `thicken` (pushed out, the lips show more of their red). Smooth everywhere, applied after
    the lips have parted and the mouth is painted: the opening narrows into an oval with the
    lips round it (no second parting, nothing torn), the cheeks beside the mouth take up the
    stretch."""
    xy, w = b.lm, b.mouth_w
    cx, cy = (xy[61] + xy[291]) / 2
    box, xx, yy = b.region(cx - 1.2 * w, cy - 0.8 * w, cx + 1.2 * w, cy + 1.0 * w)
    window = b.window(box, xx, yy)
    line = b.mouth_line(xx, press=True)
    top = np.interp(xx, *_outline(xy, L.LIPS_UPPER_OUTER))
    bottom = np.interp(xx, *_outline(xy, L.LIPS_LOWER_OUTER))
    x = xx - cx
    across = 1.0 - smoothstep((np.abs(x) - 0.45 * w) / (0.7 * w) + 0.5)
    # (the lips' band and the skin just above and below it; the chin and the nose stay)
    band = (smoothstep((yy - (top - 0.1 * w)) / (0.3 * w) + 0.5)
            * (1.0 - smoothstep((yy - (bottom + 0.1 * w)) / (0.45 * w) + 0.5)))
    d = np.zeros((*xx.shape, 2))
    d[..., 0] = -gather * x * across * band * window
    dy = yy - line
    d[..., 1] = thicken * dy * np.exp(-((dy / (0.28 * w)) ** 2) / 2) * across * window
    return box, d


def _outline(xy, idx):
    """An outline's points as (x, y) arrays ordered left to right (for np.interp)."""
    pts = xy[idx]
    order = np.argsort(pts[:, 0])
    return pts[order, 0], pts[order, 1]
