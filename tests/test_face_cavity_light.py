"""The open mouth lit from the lips inwards, judged from output pixels: just inside the lips the
inside is a lighter warm red that falls off into a darker middle, not one flat maroon that meets
the lips in a single step. Portraits and their licences: tests/data/portraits/SOURCES.md."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from runtime.face import avatars
from tests.conftest import FACE_PORTRAITS as ALL
from tests.conftest import luma
from tests.test_face_depth import skin_light, teeth_like


@pytest.mark.parametrize("name", ALL)
def test_the_open_mouth_is_lit_along_the_lips_and_darker_in_its_middle(portrait_faces, name):
    """At A, inside the opening as drawn (FaceRenderer.mouth.opened; teeth and a pixel round them
    left out), the band along the lips (1 pixel to 4 % of the mouth's width in) is at least 5 %
    lighter on average than the opening's middle (its farthest 40 % from every lip). A real open
    mouth is lit where the lips let the light in and darkest deep inside; main's cavity was as light
    or lighter in its middle (0.95-1.00 on the bright-lit portraits), a flat cut-out."""
    face = portrait_faces[name]
    light = skin_light(face)
    mw = float(np.linalg.norm(face.landmarks[61] - face.landmarks[291]))
    frame = face.render(avatars.POSES["A"])
    assert face.mouth.opened is not None, "no open mouth at A"
    x0, y0, alpha = face.mouth.opened
    box = frame[y0:y0 + alpha.shape[0], x0:x0 + alpha.shape[1]]
    inside = (alpha > 0.5 * alpha.max()).astype(np.uint8)
    depth = cv2.distanceTransform(inside, cv2.DIST_L2, 3)
    teeth = cv2.dilate(teeth_like(box, 0.45 * light).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    seen = inside.astype(bool) & ~teeth
    band = seen & (depth >= 1) & (depth < max(2.5, 0.04 * mw))
    middle = seen & (depth >= 0.6 * depth.max())
    assert band.sum() > 20 and middle.sum() > 20, "no open mouth at A"
    gray = luma(box)
    along, deep = float(gray[band].mean()), float(gray[middle].mean())
    assert along >= 1.05 * deep, f"the mouth is as light in its middle as along the lips ({deep:.0f} vs {along:.0f})"
