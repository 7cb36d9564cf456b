"""Lips pressed together (m, b, p) from a smile with teeth stay the person's own lips: as thick and
as red as in the photo, not erased into skin with a pencil line for a seam. Judged from the output
pixels. Portraits and their licences: tests/data/portraits/SOURCES.md."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from runtime.face import avatars
from runtime.face import landmarks as L
from tests.conftest import luma


def lab(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def red_rows(face, frame: np.ndarray, between: bool = True) -> float:
    """Over the middle third of the mouth: how many rows per column are lip-red (Lab a* nearer the
    photo's lips than its skin), from a little above the lips to a little below them; `between`
    False: not counting what lies between the photo's lips (gums, a tongue: pressed lips cover it)."""
    lm = face.landmarks
    mw = float(np.linalg.norm(lm[61] - lm[291]))
    rest = lab(face.portrait)
    outer = np.concatenate([lm[L.LIPS_UPPER_OUTER], lm[L.LIPS_LOWER_OUTER][1:-1]]).round().astype(np.int32)
    mouth = cv2.fillPoly(np.zeros(rest.shape[:2], np.uint8), [outer], 1).astype(bool)
    inner = cv2.fillPoly(np.zeros(rest.shape[:2], np.uint8), [lm[L.INNER_MOUTH].round().astype(np.int32)], 1)
    lips = mouth & ~inner.astype(bool)
    r = int(0.04 * np.linalg.norm(lm[33] - lm[263]))
    skin = np.concatenate([rest[int(y) - r:int(y) + r, int(x) - r:int(x) + r, 1].ravel()
                           for x, y in lm[[50, 280, 164]]])
    cut = 0.5 * (float(np.median(skin)) + float(np.percentile(rest[lips, 1], 75)))
    cx = (lm[61, 0] + lm[291, 0]) / 2
    x0, x1 = int(cx - mw / 6), int(cx + mw / 6)
    y0, y1 = int(lm[L.LIPS_UPPER_OUTER, 1].min() - 0.15 * mw), int(lm[L.LIPS_LOWER_OUTER, 1].max() + 0.15 * mw)
    red = lab(frame)[..., 1] > cut
    if not between:
        red &= ~cv2.dilate(inner, np.ones((3, 3), np.uint8)).astype(bool)
    return float(np.median(red[y0:y1, x0:x1].sum(axis=0)))


@pytest.mark.parametrize("name", ["man_darkskin_smile_teeth.jpg", "woman_sunglasses_smile_small_face.jpg",
                                  "man_beard_smile_teeth_turned20_tilted.jpg"])
def test_pressed_lips_keep_their_colour_and_thickness(portrait_faces, name):
    """At M/B/P the lips cover the teeth by meeting, each as thick and red as at rest: the red band
    of the lips is at least 0.85 times as tall as the photo's lips (erased lips leave a thin line)
    and at most 1.4 times as tall as all the red at rest (a stretched lip is a lump). The photo's
    lips alone leave out what lies between them: the bearded man's lip-red gums, which pressed lips
    cover; counted in, his M/B/P reached 0.85 only while the lower lip's red was smeared down into
    his beard (a tail of some ten rows; his lower lip itself keeps its 24 rows)."""
    face = portrait_faces[name]
    rest = face.render({})
    lips, red = red_rows(face, rest, between=False), red_rows(face, rest)
    closed = red_rows(face, face.render(avatars.POSES["M/B/P"]))
    assert 0.85 * lips <= closed <= 1.4 * red, f"the lips are {closed:.0f} rows of lip red at M/B/P, " \
                                               f"{lips:.0f} at rest ({red:.0f} with what lies between them)"


@pytest.mark.parametrize("name", ["default", "man_darkskin_smile_teeth.jpg"])
def test_pressed_lips_meet_in_a_soft_seam(portrait_faces, default_face, name):
    """Where the lips meet there is a shadow, not a hard pencil line (a thin grey stroke drawn
    between pink lips, as the default avatar showed at every m, b, p): in nine of ten columns of the
    middle of the mouth no two neighbouring rows differ by more than 45 grey levels."""
    face = default_face if name == "default" else portrait_faces[name]
    lm = face.landmarks
    mw = float(np.linalg.norm(lm[61] - lm[291]))
    cx = (lm[61, 0] + lm[291, 0]) / 2
    y0, y1 = int(lm[L.LIPS_UPPER_OUTER, 1].min()), int(lm[L.LIPS_LOWER_OUTER, 1].max())
    grey = cv2.cvtColor(face.render(avatars.POSES["M/B/P"]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    band = grey[y0:y1, int(cx - 0.3 * mw):int(cx + 0.3 * mw)]
    step = float(np.percentile(np.abs(np.diff(band, axis=0)).max(axis=0), 90))
    assert step < 45, f"{step:.0f} grey-level steps across the closed lips (a drawn line)"


SMILES = ["default", "man_darkskin_smile_teeth.jpg", "man_beard_smile_teeth_turned20_tilted.jpg",
          "woman_sunglasses_smile_small_face.jpg", "two_people_bar_flash.jpg"]
"""The portraits whose lips are apart (a smile with teeth)."""


@pytest.mark.parametrize("name", SMILES)
def test_lips_pressed_from_a_smile_leave_no_dark_dots_at_the_corners(request, name):
    """At M/B/P, within 6 % of the mouth's width of each corner of the closed mouth (where the warp
    put them), nothing is darker than 27 % of the skin's light. A smile's dark corners (the mouth's
    inside beside the teeth) stayed behind as dark dots at both ends of the shut lips: 15-25 % of
    the skin's light on the dark-skinned man, the bearded man and the woman in sunglasses; now
    30-56 %, as light as the corners of the bar photo's mouth, which had none."""
    from tests.test_face_depth import skin_light
    from tests.test_face_inside import face_of

    face = face_of(request, name)
    mw = float(np.linalg.norm(face.landmarks[61] - face.landmarks[291]))
    pose = avatars.POSES["M/B/P"]
    gray, at = luma(face.render(pose)), face.landmarks_at(pose)
    r = int(np.ceil(0.06 * mw))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disc = xx ** 2 + yy ** 2 <= r * r
    for corner in (61, 291):
        x, y = np.round(at[corner]).astype(int)
        darkest = float(gray[y - r:y + r + 1, x - r:x + r + 1][disc].min()) / skin_light(face)
        assert darkest >= 0.27, f"a dark dot at corner {corner}: {darkest:.0%} of the skin's light"



def seam_depth(face, pose: dict) -> float:
    """How dark the line where the lips meet is at a pose, over the middle half of the mouth: per
    column, the darkest row within 0.06 mouth widths of where the mesh puts the lips' meeting at
    that pose (a mild blur along it) over the mean light of the lips above and below it (0.04-0.1
    mouth widths away), the median."""
    lm = face.landmarks_at(pose)
    mw = float(np.linalg.norm(lm[61] - lm[291]))
    cx, cy = float(lm[[61, 291], 0].mean()), float(lm[[13, 14], 1].mean())
    grey = cv2.GaussianBlur(luma(face.render(pose)), (0, 0), sigmaX=1.5, sigmaY=0.01)
    ratios = []
    for x in range(int(cx - 0.25 * mw), int(cx + 0.25 * mw)):
        y0 = int(cy - 0.06 * mw)
        k = y0 + int(np.argmin(grey[y0:int(cy + 0.06 * mw) + 1, x]))
        above = np.median(grey[int(k - 0.1 * mw):int(k - 0.04 * mw), x])
        below = np.median(grey[int(k + 0.04 * mw):int(k + 0.1 * mw), x])
        ratios.append(grey[k, x] / (0.5 * (above + below)))
    return float(np.median(ratios))


@pytest.mark.parametrize("name", ["woman_older_glasses_neutral.jpg", "man_older_turned15.jpg"])
def test_a_mouth_closed_in_the_photo_has_a_seam_at_most_60_percent_as_light_as_its_lips(portrait_faces, name):
    """What the limit of the next test rests on: the photos whose mouths are closed show a seam
    40-49 % as light as their lips (seam_depth at rest)."""
    assert seam_depth(portrait_faces[name], {}) <= 0.6


@pytest.mark.parametrize("name", SMILES)
def test_lips_pressed_from_a_smile_meet_in_a_line_as_dark_as_a_closed_mouths(request, name):
    """At M/B/P the line where the lips meet is at most 60 % as light as the lips (seam_depth), as a
    mouth closed in a photo has it (the test above); a visitor reads the lips by it. Pressed from a
    smile, the seam was 62-80 % as light as the lips: lips "wiped out", a pale-pink smear where the
    teeth were (now 45-53 %). (Soft all the same: test_pressed_lips_meet_in_a_soft_seam.)"""
    from tests.test_face_inside import face_of

    depth = seam_depth(face_of(request, name), avatars.POSES["M/B/P"])
    assert depth <= 0.6, f"the closed lips' seam is {depth:.0%} as light as the lips (lips wiped out)"
