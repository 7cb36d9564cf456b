"""The open mouth's inside as a visitor sees it, from output pixels: it stays inside the lips (no
dark wedge over the lower lip beside the corners), and its back is the shade of a real mouth, not a
black slab. The lips' opening is taken where the warp carries the photo's lip points
(FaceRenderer.landmarks_at): the face mesh read on a frame takes a lit tongue's crest for the lower
lip and a dark wedge for part of the opening, so it cannot judge either. Portraits and their
licences: tests/data/portraits/SOURCES.md."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from runtime.face import avatars
from runtime.face import landmarks as L
from runtime.face.mouth import OPENING
from tests.conftest import FACE_PORTRAITS, luma
from tests.test_face_depth import skin_light, teeth_like

ALL = ["default", *FACE_PORTRAITS]


def face_of(request, name):
    return request.getfixturevalue("default_face") if name == "default" else (
        request.getfixturevalue("portrait_faces")[name])


def fill(shape, points: np.ndarray) -> np.ndarray:
    return cv2.fillPoly(np.zeros(shape, np.uint8), [np.round(points).astype(np.int32)], 1).astype(bool)


def dark_on_the_lips(face, pose: dict) -> tuple[int, float]:
    """Pixels on the lower lip (inside the lips' outer outline, under their opening grown by 4 % of
    the mouth's width) darker than 30 % of the skin's light that were not dark at rest; and the mouth width."""
    light, mw = skin_light(face), float(np.linalg.norm(face.landmarks[61] - face.landmarks[291]))
    rest = luma(face.render({})) < 0.3 * light
    rest = cv2.dilate(rest.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    frame = face.render(pose)
    at = face.landmarks_at(pose)
    lips = fill(frame.shape[:2], np.concatenate([at[L.LIPS_UPPER_OUTER], at[L.LIPS_LOWER_OUTER][1:-1]]))
    k = max(3, int(0.04 * mw)) | 1
    opening = cv2.dilate(fill(frame.shape[:2], at[OPENING]).astype(np.uint8), np.ones((k, k), np.uint8)).astype(bool)
    below = np.cumsum(opening, axis=0) > 0  # (the lower lip: under the opening in each column)
    dark = (luma(frame) < 0.3 * light) & lips & below & ~opening & ~rest
    return int(dark.sum()), mw


STREAK = pytest.mark.xfail(strict=True, reason="the turned, tilted man's left corner at A: a dark streak "
                           "along the lower lip, as on the old code (4-5 per mille)")


def _marks(name: str, pose: str) -> tuple:
    return (STREAK,) if name == "man_beard_smile_teeth_turned20_tilted.jpg" and pose == "A" else ()


@pytest.mark.parametrize(("name", "pose"), [pytest.param(n, p, marks=_marks(n, p))
                                            for n in ALL for p in ("A", "O", "joy")])
def test_the_open_mouths_inside_stays_inside_the_lips(request, name, pose):
    """At an open vowel, an O and joy, no more than 2 per mille of the mouth's width squared of the
    lips' surface turns cavity-dark (a 5 x 5 pixel spot at a 110-pixel mouth): the inside of a mouth
    ends at the lips' wet edge. The default avatar's opening ran past its lower lip beside the
    right corner as a black wedge of about 90 pixels (6-7 per mille) at every open vowel, which a
    visitor sees from across the room."""
    face = face_of(request, name)
    dark, mw = dark_on_the_lips(face, avatars.POSES[pose])
    assert dark <= 0.002 * mw * mw, f"{pose}: {dark} lip pixels are cavity-dark ({dark / mw / mw * 1000:.1f} per mille)"


@pytest.mark.parametrize("name", ALL)
def test_the_back_of_an_open_mouth_is_shade_not_a_black_slab(request, name):
    """At A, in the middle third of the opening, the upper third of each column's cavity (the back of
    the mouth, teeth left out) averages at least 18 % of the skin's light. That is the darkest tenth
    of the real open mouths in these photos (their own interiors beside the teeth: 18-47 % of the
    skin's light at the 10th percentile); the old cavity's back was 16-17 % on the bright portraits
    (the default and the sunglasses here; the bar's photo in the review too), a flat near-black slab
    under the teeth."""
    face = face_of(request, name)
    light = skin_light(face)
    pose = avatars.POSES["A"]
    frame = face.render(pose)
    inner = fill(frame.shape[:2], face.landmarks_at(pose)[OPENING])
    inner = cv2.erode(inner.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    teeth = cv2.dilate(teeth_like(frame, 0.45 * light).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    cavity = inner & ~teeth
    xs = np.flatnonzero(inner.any(axis=0))
    centre, half = (xs.min() + xs.max()) / 2, (xs.max() - xs.min()) / 2
    gray, back = luma(frame), []
    for x in range(int(centre - half / 3), int(centre + half / 3) + 1):
        rows = np.flatnonzero(cavity[:, x])
        if len(rows) >= 6:
            back.extend(gray[rows[:len(rows) // 3], x])
    assert back, "no open mouth at A"
    level = float(np.mean(back))
    assert level >= 0.18 * light, f"the back of the mouth is {level:.0f}, {level / light:.0%} of the skin's light"


def up_the_middle(face, pose: dict) -> tuple[np.ndarray, int]:
    """The light up the middle of the open mouth (the median of the middle tenth of the mouth's
    width), from the lower lip's inner edge (where the warp put it) up to the upper teeth; and
    how many rows that is (up to the first teeth-coloured row above the mouth's dark inside)."""
    light, mw = skin_light(face), float(np.linalg.norm(face.landmarks[61] - face.landmarks[291]))
    frame = face.render(pose)
    x, y = face.landmarks_at(pose)[14]
    column = np.median(frame[int(y - 0.5 * mw):int(y) + 1, int(x - 0.05 * mw):int(x + 0.05 * mw) + 1], axis=1)[::-1]
    gray = luma(column)
    inside = int(np.argmax(gray < 0.45 * light))  # (past the lip's rim and any lower teeth)
    rows = np.flatnonzero(teeth_like(column[None], 0.45 * light)[0] & (np.arange(len(gray)) > inside))
    return gray, int(rows[0]) if len(rows) else len(gray)


@pytest.mark.parametrize("name", ALL)
def test_the_tongue_shows_its_top_at_an_open_vowel(request, name):
    """At A, going up the middle of the mouth from the lower lip, somewhere between a fifth and four
    fifths of the way to the upper teeth the light falls by at least 10 % of the skin's light over
    5 % of the mouth's width: the lit top of the tongue ends against the mouth's shade behind it, a
    shape a visitor reads as a tongue (13-27 % here). The old cavity darkened in one smooth ramp
    from the lower lip to a near-black back, which reads as a hole. (Until round 9 this asked for
    the fall within two pixels; a tongue cut that sharply was the review's "hard-edged pink patch",
    so the edge now only has to show, over a soft few pixels.)"""
    face = face_of(request, name)
    gray, height = up_the_middle(face, avatars.POSES["A"])
    assert height > 10, "no open mouth at A"
    mw = float(np.linalg.norm(face.landmarks[61] - face.landmarks[291]))
    k = max(3, round(0.05 * mw))
    r = np.arange(max(2, int(0.2 * height)), min(int(0.8 * height), len(gray) - k))
    step = float((gray[r] - gray[r + k]).max()) / skin_light(face)
    assert step >= 0.1, f"no tongue's top: the light falls at most {step:.0%} of the skin's light over {k} px"


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("pose", ["A", "O"])
def test_an_open_mouth_has_no_black_corners(request, name, pose):
    """At A and O, no more than 3 per mille of the mouth's width squared inside the lips' opening
    (where the warp put it) is darker than 12 % of the skin's light: the whole inside is the
    painted mouth's dark red-brown. The photo's own near-black corners beside a smile's teeth were
    left as they were and, beside the maroon cavity, read as black wedges cut out of the face
    (7 per mille on the default avatar at A, 13 on the dark-skinned man)."""
    face = face_of(request, name)
    light, mw = skin_light(face), float(np.linalg.norm(face.landmarks[61] - face.landmarks[291]))
    frame = face.render(avatars.POSES[pose])
    inside = fill(frame.shape[:2], face.landmarks_at(avatars.POSES[pose])[OPENING])
    black = int(((luma(frame) < 0.12 * light) & inside).sum())
    assert black <= 0.003 * mw * mw, f"{black} near-black pixels inside the mouth ({black / mw / mw:.1%} of mw²)"


def dark_dots(face, frame: np.ndarray) -> int:
    """One-pixel dark dots around the mouth (1.8 x 0.9 mouth widths): pixels darker by 15 % of the
    skin's light than the closing of their 3 x 3 neighbourhood."""
    mw = float(np.linalg.norm(face.landmarks[61] - face.landmarks[291]))
    cx, cy = face.landmarks[[13, 14]].mean(axis=0)
    gray = luma(frame)[int(cy - 0.4 * mw):int(cy + 0.5 * mw), int(cx - 0.9 * mw):int(cx + 0.9 * mw)]
    dots = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    return int((dots > 0.15 * skin_light(face)).sum())


@pytest.mark.parametrize("name", ALL)
def test_an_open_vowel_adds_no_dotted_line_beside_the_teeth(request, name):
    """At A the mouth shows no more one-pixel dark dots than at rest (give or take 0.2 per mille of
    the mouth's width squared): where a smile's teeth meet its dark corners, the row the jaw tears
    the photo along was left between the corner and the painted mouth, a dotted line of dark and
    light pixels from the teeth to the corner (9 dots on the default avatar, none at rest)."""
    face = face_of(request, name)
    mw = float(np.linalg.norm(face.landmarks[61] - face.landmarks[291]))
    rest, a = dark_dots(face, face.render({})), dark_dots(face, face.render(avatars.POSES["A"]))
    assert a <= rest + 0.0002 * mw * mw, f"A shows {a} one-pixel dark dots round the mouth, {rest} at rest"
