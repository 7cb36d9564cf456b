"""An open mouth with depth, judged from output pixels: the cavity darkens from the front (the
lower lip and tongue) to the back (under the upper teeth) with no flat patch, the lower teeth's
edge is one smooth curve, and a closed-mouth portrait's synthesized teeth are one upper row
(no second, denture-like row at a moderate opening). Portraits: tests/data/portraits/SOURCES.md."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from runtime.face import avatars
from runtime.face import landmarks as L
from tests.conftest import FACE_PORTRAITS as ALL
from tests.conftest import luma

CLOSED = ["woman_older_glasses_neutral.jpg", "man_older_turned15.jpg"]


def teeth_like(rgb: np.ndarray, light: float) -> np.ndarray:
    """Pixels a visitor would call teeth: light, and not red like lips, gums or tongue."""
    rgb = rgb.astype(np.float32)
    return (luma(rgb) > light) & (rgb[..., 0] - rgb[..., 1] < 0.25 * rgb[..., 0] + 8)


def skin_light(face) -> float:
    r = int(0.04 * np.linalg.norm(face.landmarks[33] - face.landmarks[263]))
    patches = [face.portrait[int(y) - r:int(y) + r, int(x) - r:int(x) + r] for x, y in face.landmarks[[50, 280]]]
    return float(np.percentile(luma(np.concatenate([p.reshape(-1, 3) for p in patches])), 90))


def mouth_box(face, frame, half: float = 0.15):
    """The middle columns of the mouth from the lips' parting down (frame crop, its mouth width)."""
    mw = float(np.linalg.norm(face.landmarks[61] - face.landmarks[291]))
    cx, cy = face.landmarks[[13, 14]].mean(axis=0)
    return frame[int(cy - 0.1 * mw):int(cy + 0.5 * mw), int(cx - half * mw):int(cx + half * mw)], mw


def cavity_runs(face, frame):
    """Per middle column of the open mouth, the luminance of its dark red cavity from top (under the
    upper lip and teeth) to bottom (the lower lip): the longest run of cavity pixels."""
    box, _ = mouth_box(face, frame)
    light = skin_light(face)
    gray = luma(box)
    cavity = (gray < 0.5 * light) & (box[..., 0] >= box[..., 1]) & ~teeth_like(box, 0.45 * light)
    runs = []
    for x in range(box.shape[1]):
        best, start = (0, 0), None
        for y, inside in enumerate([*cavity[:, x], False]):
            if inside and start is None:
                start = y
            elif not inside and start is not None:
                best = max(best, (y - start, start))
                start = None
        if best[0] >= 8:
            runs.append(gray[best[1]:best[1] + best[0], x])
    return runs


@pytest.mark.parametrize("name", ALL)
def test_the_open_mouth_is_lighter_at_the_front_than_at_the_back(portrait_faces, name):
    """At A, down each middle column of the cavity, its lower quarter (the tongue and the lower lip's
    light) is clearly lighter than its upper quarter (the back of the mouth under the upper teeth):
    the mouth has depth, it is not a flat maroon hole."""
    face = portrait_faces[name]
    runs = cavity_runs(face, face.render(avatars.POSES["A"]))
    assert len(runs) > 10, "no open mouth"
    front = np.mean([r[-max(2, len(r) // 4):-1].mean() for r in runs])
    back = np.mean([r[1:max(3, len(r) // 4)].mean() for r in runs])
    assert front > 1.25 * back, f"the cavity is as light at the back as at the front ({front:.0f} vs {back:.0f})"


@pytest.mark.parametrize("name", ALL)
def test_the_open_mouth_has_no_flat_plateau(portrait_faces, name):
    """At A and O the cavity's light changes everywhere: in no more than a tenth of it does a 7-pixel
    stretch down a column keep the same brightness (a flat patch of one colour reads as paint)."""
    face = portrait_faces[name]
    for pose in ("A", "O"):
        runs = cavity_runs(face, face.render(avatars.POSES[pose]))
        assert len(runs) > 10, f"{pose}: no open mouth"
        flat = total = 0
        for run in runs:
            for i in range(len(run) - 6):
                window = run[i:i + 7]
                flat += int(window.max() - window.min() <= 1.0)
                total += 1
        assert flat <= 0.1 * total, f"{pose}: {flat / total:.0%} of the cavity is one flat colour"


def lower_teeth_edge(face, pose: str) -> tuple[np.ndarray, np.ndarray]:
    """Per middle column of the mouth (x within 0.12 mouth widths of its middle): the sub-pixel row
    where the lower teeth begin above the lower lip (NaN where none show)."""
    frame = face.render(avatars.POSES[pose])
    box, mw = mouth_box(face, frame, 0.12)
    light = skin_light(face)
    gray = luma(box)
    teeth = teeth_like(box, 0.45 * light)
    rows = np.arange(box.shape[0])
    edges = np.full(box.shape[1], np.nan)
    for x in range(box.shape[1]):
        column = teeth[:, x]
        dark = np.flatnonzero((gray[:, x] < 0.5 * light) & ~column)
        if not len(dark):
            continue
        below = np.flatnonzero(column & (rows > dark.max() - 0.12 * mw) & (rows > dark.min()))
        below = below[below > dark[len(dark) // 2]]
        if len(below) == 0:
            continue
        top = int(below.min())
        if top < 3 or top + 3 > len(column):
            continue
        # sub-pixel: where the light crosses half way from the cavity above to the tooth
        cav, tooth = gray[top - 3, x], gray[top:top + 3, x].max()
        mid = 0.5 * (cav + tooth)
        r = top - 2 + int(np.argmax(gray[top - 2:top + 3, x] >= mid))
        edges[x] = r - 1 + (mid - gray[r - 1, x]) / max(gray[r, x] - gray[r - 1, x], 1e-3)
    return edges, rows


@pytest.mark.parametrize("name", CLOSED)
def test_the_lower_teeth_edge_is_one_smooth_curve(portrait_faces, name):
    """At A the lower teeth's tips form one smooth curve along the mouth: the row where they begin
    changes by well under a pixel from a column to the next, beyond the curve's own slope (no
    wavy line with a notch at every tooth)."""
    face = portrait_faces[name]
    edges, _ = lower_teeth_edge(face, "A")
    found = np.flatnonzero(~np.isnan(edges))
    assert len(found) > 10, "no lower teeth at A"
    xs, ys = found.astype(float), edges[found]
    curve = np.polyval(np.polyfit(xs, ys, 2), xs)
    wobble = float(np.sqrt(np.mean((ys - curve) ** 2)))
    assert wobble < 0.27, f"the lower teeth edge wobbles by {wobble:.2f} px around a smooth curve"


def lab_mean(rgb: np.ndarray) -> np.ndarray:
    """Mean colour of some pixels in CIE Lab (L 0..100)."""
    lab = cv2.cvtColor(rgb.reshape(1, -1, 3).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    return lab.reshape(-1, 3).mean(axis=0)


@pytest.mark.parametrize("name", [n for n in ALL if "sunglasses" not in n])  # (eyes behind dark lenses)
def test_a_closed_lid_has_the_colour_of_that_persons_lid(portrait_faces, name):
    """A blink brings the person's own upper lid down: the closed lid over the middle of the eye has
    the colour of the lid skin just above the open eye (between lashes and brow, behind the same
    glasses), within a colour difference a visitor does not take for a patch (Lab delta E < 9);
    not a disc of another hue."""
    face = portrait_faces[name]
    lm = face.landmarks
    e = float(np.linalg.norm(lm[33] - lm[263]))
    closed = face.render({"blink_left": 1.0, "blink_right": 1.0})
    for eye, upper in ((L.RIGHT_EYE, L.RIGHT_EYE_UPPER), (L.LEFT_EYE, L.LEFT_EYE_UPPER)):
        xs = lm[eye, 0]
        x0, x1 = int(xs.min() + 0.3 * np.ptp(xs)), int(xs.max() - 0.3 * np.ptp(xs))
        opening = cv2.fillPoly(np.zeros(closed.shape[:2], np.uint8), [np.round(lm[eye]).astype(np.int32)], 1)
        opening = cv2.erode(opening, np.ones((3, 3), np.uint8)).astype(bool)
        opening[:, :x0] = opening[:, x1:] = False
        top = lm[upper, 1].min()
        above = face.portrait[int(top - 0.07 * e):int(top - 0.02 * e), x0:x1].reshape(-1, 3)
        skin = above[luma(above) >= np.percentile(luma(above), 60)]  # (its lit skin, not lashes or a frame)
        delta = float(np.linalg.norm(lab_mean(closed[opening]) - lab_mean(skin)))
        assert delta < 9, f"the closed lid is another colour than the lid above the eye (delta E {delta:.1f})"


def teeth_rows(face, pose: str) -> tuple[int, int]:
    """Teeth-coloured pixels in the middle of the open mouth: in its upper third (the upper row
    under the upper lip) and in its lower two thirds (a lower row)."""
    mw = float(np.linalg.norm(face.landmarks[61] - face.landmarks[291]))
    cx, cy = face.landmarks[[13, 14]].mean(axis=0)
    frame = face.render(avatars.POSES[pose])
    region = frame[int(cy):int(cy + 0.45 * mw), int(cx - 0.2 * mw):int(cx + 0.2 * mw)]
    found = teeth_like(region, 0.3 * skin_light(face))
    upper = frame[int(cy - 0.1 * mw):int(cy + 0.15 * mw), int(cx - 0.2 * mw):int(cx + 0.2 * mw)]
    return int(teeth_like(upper, 0.3 * skin_light(face)).sum()), int(found[found.shape[0] // 3:].sum())


@pytest.mark.parametrize("name", CLOSED)
def test_synthesized_teeth_are_one_upper_row_with_at_most_a_glimpse_of_the_lower(portrait_faces, name):
    """A portrait that showed no teeth gets teeth, not a denture: at a moderate opening (O) only the
    upper row under the upper lip shows, no second row above the lower lip; at the widest (A) the
    lower teeth are a glimpse of their tips, a fraction of the upper row."""
    face = portrait_faces[name]
    mw = float(np.linalg.norm(face.landmarks[61] - face.landmarks[291]))
    upper, lower = teeth_rows(face, "O")
    assert upper > 0.03 * mw * mw, f"O: no upper row ({upper} teeth pixels)"
    assert lower <= 0.001 * mw * mw, f"O: a second row of {lower} teeth pixels above the lower lip"
    upper, lower = teeth_rows(face, "A")
    assert 0 < lower < 0.15 * upper, f"A: {lower} lower-teeth pixels against {upper} in the upper row"
