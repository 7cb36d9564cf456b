"""The skin round the mouth stretches and never tears: at O the rounded lips pull the cheeks in,
and beside the mouth a visitor saw a line across the cheek (the lips' shear running on past the
corners) and the outline of a box round the mouth (a wide field cut off at its region's edge).
Both are a step in the frame's warp: neighbouring output pixels that show photo pixels more than a
pixel apart, which draws the photo's texture torn along a line. The step is read from the backward
map the frame was drawn with (FaceRenderer._map_x/_map_y after render), the cause of the frame's
pixels, since a tear in a smooth cheek is too faint to find reliably in the pixels of every photo.
Portraits and their licences: tests/data/portraits/SOURCES.md."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.face import avatars
from runtime.face import landmarks as L
from tests.conftest import FACE_PORTRAITS

ALL = ["default", *FACE_PORTRAITS]


def face_of(request, name):
    return request.getfixturevalue("default_face") if name == "default" else (
        request.getfixturevalue("portrait_faces")[name])


def largest_step_beside_the_mouth(face, pose: dict) -> float:
    """The largest step (pixels) between neighbouring output pixels of the frame's warp, more than
    0.55 mouth widths to either side of the mouth's middle (beyond its corners), away from the eyes."""
    face.render(pose)
    mx, my = face._map_x, face._map_y
    across = np.maximum(np.abs(np.diff(mx, axis=1) - 1)[:-1], np.abs(np.diff(my, axis=1))[:-1])
    down = np.maximum(np.abs(np.diff(mx, axis=0))[:, :-1], np.abs(np.diff(my, axis=0) - 1)[:, :-1])
    step = np.maximum(across, down)
    lm = face.landmarks
    mw = float(np.linalg.norm(lm[61] - lm[291]))
    cx = float((lm[61, 0] + lm[291, 0]) / 2)
    step[:, np.abs(np.arange(step.shape[1]) - cx) < 0.55 * mw] = 0.0
    yy, xx = np.mgrid[:step.shape[0], :step.shape[1]]
    eyes = [lm[eye].mean(axis=0) for eye in (L.RIGHT_EYE, L.LEFT_EYE)]
    reach = 0.45 * float(np.linalg.norm(eyes[0] - eyes[1]))
    for x, y in eyes:  # (the lower lids rise in joy: skin pressed together, not torn)
        step[np.hypot(xx - x, yy - y) < reach] = 0.0
    return float(step.max())


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("pose", ["O", "A", "joy"])
def test_the_cheeks_beside_the_mouth_stretch_without_a_seam(request, name, pose):
    """At O, A and joy the warp beside the mouth moves neighbouring pixels less than a pixel apart
    (the old O tore 1.7-3.0 pixels along the mouth line beyond the corners on every portrait)."""
    face = face_of(request, name)
    assert largest_step_beside_the_mouth(face, avatars.POSES[pose]) < 1.0


SMILES = ["default", "man_darkskin_smile_teeth.jpg", "man_beard_smile_teeth_turned20_tilted.jpg",
          "woman_sunglasses_smile_small_face.jpg", "two_people_bar_flash.jpg"]
"""The portraits whose lips are apart in the photo: at m, b, p the lower lip rises to meet the upper."""


@pytest.mark.parametrize("name", SMILES)
def test_the_chin_under_lips_pressed_from_a_smile_is_not_smeared(request, name):
    """At M/B/P the skin under the lower lip (from just below it down 0.6 mouth widths, in the
    middle 0.6 mouth widths) is drawn at most 2.2 times its size in the photo (the median over
    the columns of each column's strongest vertical stretch, read from the frame's backward map):
    the rising lip pulls the chin up over a long reach. Pulled over a short one it was drawn 3.5-4.3
    times as tall, and a beard under the lip became vertical streaks."""
    face = face_of(request, name)
    pose = avatars.POSES["M/B/P"]
    face.render(pose)
    my = face._map_y
    at = face.landmarks_at(pose)
    lower = at[L.LIPS_LOWER_OUTER]
    order = np.argsort(lower[:, 0])
    mw = float(np.linalg.norm(face.landmarks[61] - face.landmarks[291]))
    cx = float((face.landmarks[61, 0] + face.landmarks[291, 0]) / 2)
    stretch = []
    for x in range(int(cx - 0.3 * mw), int(cx + 0.3 * mw)):
        y0 = int(np.interp(x, lower[order, 0], lower[order, 1])) + 2
        step = np.diff(my[y0:y0 + int(0.6 * mw), x])  # (photo rows per output row)
        stretch.append(1.0 / max(float(step.min()), 1e-3))
    assert float(np.median(stretch)) <= 2.2, f"the chin is drawn {np.median(stretch):.1f} times as tall"
