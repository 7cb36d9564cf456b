"""Beside a rounded O the lips run smoothly into the cheek: no pale or pink band drawn down the sides
of the opening with the photo's dark seam outside it. Judged from output pixels. Portraits and
their licences: tests/data/portraits/SOURCES.md."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from runtime.face import avatars
from runtime.face.mouth import OPENING
from tests.conftest import luma

CLOSED_LIPS = ["woman_older_glasses_neutral.jpg", "man_older_turned15.jpg", "two_people_bar_flash.jpg"]
"""Portraits with closed lips (the bar man's a thin row of teeth between them): the review saw
vertical bands beside their O."""


def _edges(poly: np.ndarray, y: float) -> tuple[float, float] | None:
    """Left and right x where a closed polygon crosses row y (None: it does not)."""
    xs = []
    for a, b in zip(poly, np.roll(poly, -1, axis=0), strict=True):
        if (a[1] - y) * (b[1] - y) <= 0 and a[1] != b[1]:
            xs.append(a[0] + (y - a[1]) / (b[1] - a[1]) * (b[0] - a[0]))
    return (min(xs), max(xs)) if xs else None


def side_bands(face) -> list[float]:
    """Per side of the O (left, right): how far the brightness falls back, walking out from the
    opening's edge to 0.15 mouth widths beyond it, after it has risen (a lighter band with a darker
    line outside it), as a fraction of the cheek's brightness there; the median over the rows of
    the opening's lower half (its upper corners are the mouth's own corners, dark in the photo).
    The lips running into the cheek only get lighter outwards."""
    params = avatars.POSES["O"]
    light = cv2.GaussianBlur(luma(face.render(params)), (0, 0), 0.7)
    poly = face.landmarks_at(params)[OPENING]
    mw = face.rig.mouth_width
    y0, y1 = float(poly[:, 1].min()), float(poly[:, 1].max())
    out = []
    for side in (-1, 1):
        falls = []
        for y in range(int(y0 + 0.5 * (y1 - y0)), int(y1 - 0.1 * (y1 - y0))):
            ends = _edges(poly, y)
            if ends is None:
                continue
            edge = ends[1] if side > 0 else ends[0]
            profile = light[y, np.arange(int(edge), int(edge + side * 0.15 * mw), side)]
            cheek = float(np.median(profile[-len(profile) // 3:]))
            falls.append(float((np.maximum.accumulate(profile) - profile).max()) / max(cheek, 1.0))
        out.append(float(np.median(falls)))
    return out


@pytest.mark.parametrize("name", CLOSED_LIPS)
def test_no_band_down_the_sides_of_an_o(portrait_faces, name):
    """Beside the O the brightness falls back by less than 25 % of the cheek's on average over the
    two sides. Until round 17 the lip_round field drew the mouth's corners in over the jaw's tear,
    which dropped their lower half with the jaw: the corner of the lower lip and the photo's seam
    between the lips hung down both sides of the O as pale or pink bands with a dark line outside
    (84 %, 40 % and 33 % on these three; 17 %, 21 % and 5 % since, the lips' own wet rim)."""
    left, right = side_bands(portrait_faces[name])
    assert (left + right) / 2 < 0.25, f"a band beside the O: the brightness falls back {left:.0%} / {right:.0%}"
