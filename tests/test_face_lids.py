"""A closed eye is a lid made of the portrait's own skin: during a blink the lid is about as
textured as the skin just above it (not a flat painted disc). Portraits: tests/data/portraits."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from runtime.config import Settings
from runtime.face import avatars
from runtime.face import landmarks as L
from runtime.face.bundle import Avatar
from runtime.face.enroll import enroll

PORTRAITS = Path(__file__).parent / "data" / "portraits"


@pytest.fixture(scope="module")
def models():
    return avatars.face_models(Settings())


def fine_detail(grey: np.ndarray) -> np.ndarray:
    """What a 1.5 px blur takes away: skin pores, fine lines, grain."""
    return grey - cv2.GaussianBlur(grey, (0, 0), 1.5)


def lid_and_skin(lm: np.ndarray, shape, eye, upper) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the middle of the eye opening (covered by the closed lid) and of the skin band just
    above the open eye (between the lashes and the brow)."""
    d = float(np.linalg.norm(lm[33, :2] - lm[263, :2]))
    xs = lm[eye, 0]
    x0, x1 = int(xs.min() + 0.2 * np.ptp(xs)), int(xs.max() - 0.2 * np.ptp(xs))
    lid = np.zeros(shape, np.uint8)
    cv2.fillPoly(lid, [np.round(lm[eye, :2]).astype(np.int32)], 1)
    lid = cv2.erode(lid, np.ones((3, 3), np.uint8)).astype(bool)
    lid[:, :x0] = lid[:, x1:] = False
    top = lm[upper, 1].min()
    skin = np.zeros(shape, bool)
    skin[int(top - 0.11 * d):int(top - 0.05 * d), x0:x1] = True
    return lid, skin


@pytest.mark.parametrize("photo", ["man_darkskin_smile_teeth.jpg", "two_people_bar_flash.jpg",
                                   "man_older_turned15.jpg"])
def test_a_closed_lid_is_as_textured_as_the_skin_above_it(models, photo):
    enrolled = enroll(PORTRAITS / photo, models)
    face = avatars.renderer(Avatar(photo, enrolled.portrait, enrolled.landmarks, enrolled.meta))
    closed = face.render({"blink_left": 1.0, "blink_right": 1.0}).astype(np.float32)
    detail = fine_detail(closed @ np.array([0.299, 0.587, 0.114], np.float32))
    for eye, upper in ((L.RIGHT_EYE, L.RIGHT_EYE_UPPER), (L.LEFT_EYE, L.LEFT_EYE_UPPER)):
        lid, skin = lid_and_skin(enrolled.landmarks, closed.shape[:2], eye, upper)
        ratio = detail[lid].std() / detail[skin].std()
        assert 0.6 < ratio < 1.7, f"the closed lid's texture is {ratio:.2f} x the skin's above it"
