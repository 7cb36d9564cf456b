"""Closed lips as a visitor sees them, from output pixels: at m, b, p a portrait whose lips are apart
in the photo shows no ghost of its smile's opening beside the closed lips. Portraits and their
licences: tests/data/portraits/SOURCES.md."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from runtime.face import avatars
from runtime.face.mouth import OPENING
from tests.conftest import luma

APART = {
    "default": (),
    "man_darkskin_smile_teeth.jpg": (),
    "man_beard_smile_teeth_turned20_tilted.jpg": (),
    "woman_sunglasses_smile_small_face.jpg": (),
    "two_people_bar_flash.jpg": (),
}
"""Portraits whose lips are apart in the photo (a smile with teeth; the bar man's a thin row of them
between lips the mesh puts together: until round 16 his closed lips kept the shade over his teeth as
a dark line over a pale one, out to dark dots at the corners: 56 % on main at 389342f, 71 % after)."""


@pytest.mark.parametrize("name", [pytest.param(n, marks=m) for n, m in APART.items()])
def test_closed_lips_show_no_ghost_of_the_smile(portrait_faces, default_face, name):
    """At the M/B/P pose, where the smile's opening was (the photo's inner lips, its outer parts
    beyond a quarter of the mouth's width from its middle, where the closed lips' own seam has
    faded), the darkest twentieth of the pixels is at least 70 % as light as the lips and skin
    round it. Until round 13 the opening's shaded rim was still painted once the lips had met and
    the seam's shadow ran on out to the smile's corners: a grey squiggle with loops at the default
    avatar's corners (65 %), a dark line beside the bearded man's (66 %)."""
    face = default_face if name == "default" else portrait_faces[name]
    lm = face.landmarks
    mw = float(np.linalg.norm(lm[61] - lm[291]))
    frame = luma(face.render(avatars.POSES["M/B/P"]))
    zone = cv2.fillPoly(np.zeros(frame.shape, np.uint8), [lm[OPENING].round().astype(np.int32)], 1)
    zone = cv2.dilate(zone, np.ones((5, 5), np.uint8)).astype(bool)
    zone &= np.abs(np.arange(frame.shape[1])[None] - lm[[61, 291], 0].mean()) > 0.25 * mw
    k = int(0.1 * mw) | 1
    ring = cv2.dilate(zone.astype(np.uint8), np.ones((k, k), np.uint8)).astype(bool) & ~zone
    around = float(np.median(frame[ring]))
    darkest = float(np.percentile(frame[zone], 5))
    assert darkest >= 0.7 * around, f"where the smile's opening was, its darkest are {darkest / around:.0%} as light"
