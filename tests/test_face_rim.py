"""The rim of an open mouth as a visitor sees it, from output pixels: where the painted opening
meets the lips there is no red line, redder than the lips themselves. Portraits and their
licences: tests/data/portraits/SOURCES.md."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from runtime.face import avatars
from runtime.face import landmarks as L
from tests.conftest import FACE_PORTRAITS
from tests.test_face_shapes import opening_blob


def saturation(rgb: np.ndarray) -> np.ndarray:
    """HSV saturation (0..1) of RGB pixels."""
    rgb = rgb.astype(np.float32)
    top = rgb.max(axis=-1)
    return (top - rgb.min(axis=-1)) / np.maximum(top, 1.0)


@pytest.mark.parametrize("name", ["default", *FACE_PORTRAITS])
def test_an_open_mouth_has_no_red_rim(portrait_faces, default_face, name):
    """At the A pose the two pixels round the mouth's dark opening are at most 25 % more saturated
    (their most saturated tenth) than the lips at rest: the mouth's inside a muted red-brown next
    to the lips, not a red line. Until round 13 the cavity's red along the lips and the red the
    smile's dark corners were tinted with drew a dark-red rim round the opening (the review, on
    the sunglasses portrait): 32 % more saturated than its lips there, 38 % on the dark-skinned
    man's (20-24 % on the other smiling portraits; now at most 23 %)."""
    face = default_face if name == "default" else portrait_faces[name]
    lm = face.landmarks
    mw = float(np.linalg.norm(lm[61] - lm[291]))
    cx, cy = lm[[13, 14]].mean(axis=0)
    y0, y1, x0, x1 = int(cy - 0.2 * mw), int(cy + 0.6 * mw), int(cx - 0.8 * mw), int(cx + 0.8 * mw)
    frame = face.render(avatars.POSES["A"])
    blob = opening_blob(face, frame).astype(np.uint8)
    ring = cv2.dilate(blob, np.ones((5, 5), np.uint8)).astype(bool) & ~blob.astype(bool)
    rest = face.render({})
    outline = np.concatenate([lm[L.LIPS_UPPER_OUTER], lm[L.LIPS_LOWER_OUTER][::-1]]).round().astype(np.int32)
    lips = cv2.fillPoly(np.zeros(rest.shape[:2], np.uint8), [outline], 1).astype(bool)
    rim = float(np.percentile(saturation(frame[y0:y1, x0:x1][ring]), 90))
    own = float(np.percentile(saturation(rest[lips]), 90))
    assert rim <= 1.25 * own, f"the opening's rim is {rim / own:.0%} as saturated as the lips"
