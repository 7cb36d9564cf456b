"""Framing of real photos: a tilted close-up is levelled and fills its frame with the photo itself
(no rotated rectangle on a made-up blur), and a head rolled in the picture is not taken for a
turned one. Portraits and their licences: tests/data/portraits/SOURCES.md."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from runtime.config import Settings
from runtime.face import avatars
from runtime.face import landmarks as L
from runtime.face.enroll import enroll

PORTRAITS = Path(__file__).parent / "data" / "portraits"
TILTED = "man_beard_smile_teeth_turned20_tilted.jpg"


@pytest.fixture(scope="module")
def models():
    return avatars.face_models(Settings())


def detail(grey: np.ndarray) -> float:
    """Fine texture of a patch: the spread of its Laplacian (a blur or glow has next to none)."""
    return float(cv2.Laplacian(grey.astype(np.float32), cv2.CV_32F).std())


def test_a_tilted_close_up_fills_its_corners_with_the_photo(models):
    grey = cv2.cvtColor(enroll(PORTRAITS / TILTED, models).portrait, cv2.COLOR_RGB2GRAY)
    size, tile = grey.shape[0], 48
    typical = np.median([detail(grey[y:y + tile, x:x + tile])
                         for y in range(0, size, tile) for x in range(0, size, tile)])
    corners = [detail(grey[y:y + tile, x:x + tile]) for y in (0, size - tile) for x in (0, size - tile)]
    assert min(corners) > 0.35 * typical, f"a corner is a featureless blur ({corners} vs {typical:.1f})"


def rolled(path: Path, degrees: float, out: Path) -> Path:
    """The photo turned in its own plane by `degrees` on a larger grey canvas."""
    rgb = cv2.imread(str(path))
    h, w = rgb.shape[:2]
    side = int(1.5 * max(h, w))
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    matrix[:, 2] += ((side - w) / 2, (side - h) / 2)
    cv2.imwrite(str(out), cv2.warpAffine(rgb, matrix, (side, side), borderValue=(90, 90, 90)))
    return out


def test_rolling_a_head_in_the_picture_does_not_turn_it(models, tmp_path):
    upright = enroll(rolled(PORTRAITS / TILTED, -22, tmp_path / "upright.png"), models).meta
    leaning = enroll(rolled(PORTRAITS / TILTED, 20, tmp_path / "leaning.png"), models).meta
    assert abs(upright["roll_deg"]) < 5 and abs(leaning["roll_deg"]) > 35
    assert abs(leaning["yaw_deg"] - upright["yaw_deg"]) < 3.0, (upright, leaning)


def test_a_face_lying_on_its_side_is_levelled_not_refused(models):
    enrolled = enroll(PORTRAITS / "man_lying_turned.jpg", models)
    lm = enrolled.landmarks
    right, left = lm[L.RIGHT_EYE, :2].mean(axis=0), lm[L.LEFT_EYE, :2].mean(axis=0)
    assert abs(np.degrees(np.arctan2(left[1] - right[1], left[0] - right[0]))) < 2.0
    assert lm[L.CHIN, 1] > lm[L.NOSE_TIP, 1] > right[1], "the face is not upright"
    assert abs(enrolled.meta["yaw_deg"]) < 25
    found = models.detect(enrolled.portrait)
    assert found and max(f.score for f in found) > 0.8, "the levelled portrait is not a clear face"


def test_a_tilted_close_up_keeps_the_top_of_the_head_in_the_frame(models):
    """The levelled close-up is not enlarged past the head: the top of the skull (about 0.3 face
    heights above the mesh's forehead) stays inside the portrait."""
    enrolled = enroll(PORTRAITS / TILTED, models)
    oval = enrolled.landmarks[L.FACE_OVAL, :2]
    skull = float(oval[:, 1].min() - 0.3 * np.ptp(oval[:, 1]))
    assert skull >= 0, f"the top of the head is {-skull:.0f} px above the frame"


def test_where_the_photo_has_room_the_crown_and_its_hair_are_in_the_frame(models):
    """A head close to the camera in a photo with room above it (the bar photo): the crown with a
    full head of hair (0.55 face heights above the mesh's forehead) lies inside the portrait."""
    enrolled = enroll(PORTRAITS / "two_people_bar_flash.jpg", models)
    oval = enrolled.landmarks[L.FACE_OVAL, :2]
    crown = float(oval[:, 1].min() - 0.55 * np.ptp(oval[:, 1]))
    assert crown >= 0, f"the crown is {-crown:.0f} px above the frame"
