"""Teeth made up for a photo that shows none have the photo's own grain: a visitor sees smooth,
clean blocks in a grainy photo as a denture. Portraits and their licences:
tests/data/portraits/SOURCES.md."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from runtime.face import avatars
from tests.conftest import luma
from tests.test_face_depth import CLOSED, skin_light, teeth_like


def grain(frame: np.ndarray, mask: np.ndarray) -> float:
    """The frame's fine grain over a mask: the median of what a 3x3 median filter takes out of its
    luminance (pixel noise, not the edges or shading a median filter keeps)."""
    light = luma(frame)
    residual = np.abs(light - cv2.medianBlur(np.clip(light, 0, 255).astype(np.uint8), 3).astype(np.float32))
    return float(np.median(residual[mask]))


@pytest.mark.parametrize("name", CLOSED)
def test_made_up_teeth_have_the_photos_grain(portrait_faces, name):
    """At the A pose, the teeth drawn into a photo whose mouth is closed (teeth-coloured pixels that
    were not there at rest, away from their edges) have between 2/3 and 1.5 times the grain of the
    cheeks beside them. Under two thirds of its surroundings' grain a patch reads as airbrushed or
    pasted in (the review's "smooth beige blocks", at 0.3-0.5 of it before); over 1.5 times, as
    dirt. The photo's noise is the same sensor's everywhere, teeth included."""
    face = portrait_faces[name]
    light = 0.45 * skin_light(face)
    rest, a = face.render({}), face.render(avatars.POSES["A"])
    lm = face.landmarks
    mw = float(np.linalg.norm(lm[61] - lm[291]))
    cx, cy = lm[[13, 14]].mean(axis=0)
    near = np.zeros(rest.shape[:2], bool)
    near[int(cy - 0.3 * mw):int(cy + 0.6 * mw), int(cx - 0.6 * mw):int(cx + 0.6 * mw)] = True
    teeth = teeth_like(a, light) & ~teeth_like(rest, light) & near
    teeth = cv2.erode(teeth.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    assert teeth.sum() > 0.01 * mw * mw, f"no teeth drawn at A ({teeth.sum()} pixels)"
    r = max(2, int(0.04 * np.linalg.norm(lm[33] - lm[263])))
    cheeks = np.zeros_like(near)
    for x, y in lm[[50, 280]]:
        cheeks[int(y) - r:int(y) + r, int(x) - r:int(x) + r] = True
    ratio = grain(a, teeth) / max(grain(rest, cheeks), 0.25)
    assert 2 / 3 <= ratio <= 1.5, f"the teeth have {ratio:.2f} times the cheeks' grain"


@pytest.mark.parametrize("name", CLOSED)
def test_made_up_teeth_are_as_soft_as_the_photo(portrait_faces, name):
    """At A, down the middle fifth of the mouth (from the top of the drawn teeth to below them)
    the light steps by at most 45 % of the skin's light from one row to the next (median over the
    columns): the made-up teeth's edges are as soft as the photo's own (a 92-pixel mouth in a soft
    photo has lip edges some pixels wide). Cut with a pixel-sharp edge (57 % on the older woman
    before) they read as clip-art laid over the photo."""
    face = portrait_faces[name]
    light = skin_light(face)
    rest, a = face.render({}), face.render(avatars.POSES["A"])
    lm = face.landmarks
    mw = float(np.linalg.norm(lm[61] - lm[291]))
    teeth = teeth_like(a, 0.45 * light) & ~teeth_like(rest, 0.45 * light)
    ys = np.flatnonzero(teeth.any(axis=1))
    assert len(ys), "no teeth drawn at A"
    cx = int((lm[61, 0] + lm[291, 0]) / 2)
    band = luma(a)[ys.min():ys.max() + 10, cx - int(0.1 * mw):cx + int(0.1 * mw)]
    step = float(np.median(np.abs(np.diff(band, axis=0)).max(axis=0))) / light
    assert step <= 0.45, f"the drawn teeth's edge steps {step:.0%} of the skin's light in one row"
