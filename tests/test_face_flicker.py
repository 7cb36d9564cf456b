"""The frames around each m, b, p of a smiling sentence, one after another as a visitor sees them:
real lips close over the teeth in one movement (the jaw brings the lower lip up to the teeth, then
the lips slide over them and meet), so no frame flickers in between: no thin strip of tooth tips
hanging over a dark bar the jaw still holds open, and between lips that nearly touch one dark line,
not two. Portraits and their licences: tests/data/portraits/SOURCES.md."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.face import landmarks as L
from runtime.face.animator import Animator
from runtime.face.rig import HEAD
from runtime.speech.visemes import from_alignments
from tests.conftest import luma
from tests.test_face_closing import SMILES, WORDS, teeth_band
from tests.test_face_depth import skin_light, teeth_like

FPS = 25
STILL = (*HEAD, "gaze_x", "gaze_y", "blink_left", "blink_right")
"""Held at rest: the mouth alone moves, so each column of a frame lines up with the rest frame."""


def closing_frames(face):
    """(frame, lip_press) of every frame between open and shut around the m, b and p of WORDS said
    with a smile (as a friendly sentence is: joy at 0.7), at three phases of the frames against the
    sound."""
    rate = 16000
    track = from_alignments([(sound, int(seconds * rate)) for sound, seconds in WORDS], rate)
    for lead in (0.1, 0.117, 0.133):
        animator = Animator(seed=5)
        animator.speak(track, lead)
        animator.feel("joy", 0.7, 0.0, 10.0)
        for i in range(int((lead + track.num_samples / rate) * FPS)):
            params = {**animator.params(i / FPS), **dict.fromkeys(STILL, 0.0)}
            if 0.05 < params["lip_press"] < 0.95:
                yield face.render(params), params["lip_press"]


def lines(column: np.ndarray, gap: int = 2) -> int:
    """How many separate runs of True a column has (runs closer than `gap` rows count as one) that
    begin and end inside it: lines across it, not a dark area reaching in from beyond its ends (a
    moustache over the upper lip)."""
    rows = np.flatnonzero(column)
    if not len(rows):
        return 0
    starts = np.r_[rows[0], rows[1:][np.diff(rows) > gap]]
    ends = np.r_[rows[:-1][np.diff(rows) > gap], rows[-1]]
    return int(((starts > 0) & (ends < len(column) - 1)).sum())


def lip_rows(face, inner: bool = False):
    """Per column of the middle half of the mouth: the rows from the top of the upper lip to the
    bottom of the lower lip at rest (the lips close inside them), and those columns. `inner`: from
    the lips' inner edges instead, 4 % of the mouth's width into each lip (the lips meet between
    them; a moustache above the upper lip is no line between the lips)."""
    lm = face.landmarks
    mw = float(np.linalg.norm(lm[61] - lm[291]))
    cx = (lm[61, 0] + lm[291, 0]) / 2
    xs = np.arange(int(cx - 0.25 * mw), int(cx + 0.25 * mw))

    def outline(ids):
        pts = lm[ids]
        order = np.argsort(pts[:, 0])
        return np.interp(xs, pts[order, 0], pts[order, 1])

    if inner:
        reach = 0.04 * mw
        return xs, (outline(L.LIPS_UPPER_INNER) - reach).astype(int), \
            np.ceil(outline(L.LIPS_LOWER_INNER) + reach).astype(int), mw
    return xs, outline(L.LIPS_UPPER_OUTER).astype(int), np.ceil(outline(L.LIPS_LOWER_OUTER)).astype(int), mw


@pytest.mark.parametrize("name", SMILES)
def test_no_strip_of_tooth_tips_over_a_dark_bar_while_the_lips_close(portrait_faces, default_face, name):
    """In no frame of a closing or an opening around m, b, p do more than 20 % of the mouth's middle
    columns show the teeth partly covered (some, but under 60 % of their height at rest) above a
    dark band of 3 % of the mouth's width or more (about 2 px on a 512-px face, where a dark line is
    plainly seen) between them and the lower lip. Real lips slide over the teeth only once the jaw
    has brought the lower lip up to them; covered from above while the jaw still holds the mouth
    open below, the teeth shrink to a jagged strip of tips over a dark bar for a frame or two: a
    flicker at every m, b, p. 20 % of the columns leaves room for the gaps between teeth and the
    slope of the lips towards the corners."""
    face = default_face if name == "default" else portrait_faces[name]
    sl = skin_light(face)
    light = 0.45 * sl
    band, _ = teeth_band(face, light)
    xs, _, bottoms, mw = lip_rows(face)
    rest = teeth_like(face.render({}), light) & band
    rest_h = rest.sum(axis=0)[xs]
    bar = max(2, round(0.03 * mw))
    worst = (0.0, 0.0)
    for frame, press in closing_frames(face):
        seen = teeth_like(frame, light) & band
        dark = luma(frame) < 0.4 * sl
        strips = 0
        for k, x in enumerate(xs):
            rows = np.flatnonzero(seen[:, x])
            if rest_h[k] < 3 or not len(rows) or len(rows) >= 0.6 * rest_h[k]:
                continue
            strips += int(dark[rows[-1] + 1:bottoms[k] + 1, x].sum() >= bar)
        worst = max(worst, (strips / len(xs), press))
    share, press = worst
    assert share <= 0.2, f"{share:.0%} of the middle columns show a strip of teeth over a dark bar " \
                         f"(lips {press:.0%} closed)"


NOT_YET = {
    "man_beard_smile_teeth_turned20_tilted.jpg": pytest.mark.xfail(
        strict=True, reason="the photo's lower lip is in shade along its inner edge on the left: the lip "
        "carries that dark edge up under the slit's line (23-25 % of the columns in one frame)"),
}
"""Where the last frames still fail (known, reported; strict: it says so once they pass)."""


@pytest.mark.parametrize("name", [pytest.param(n, marks=NOT_YET[n]) if n in NOT_YET else n for n in SMILES])
def test_lips_that_nearly_meet_show_one_dark_line(portrait_faces, default_face, name):
    """In no frame of a closing or an opening around m, b, p do more than 20 % of the mouth's middle
    columns cross more separate dark lines between the lips (from 4 % of the mouth's width into
    the upper lip to as far into the lower one, at rest) than the photo shows there, and at least
    two (dark: under 40 % of the skin's light; separate: 3 rows or more apart). Between lips
    that nearly touch there is one dark line, the slit; a second one beside it (a shade painted
    where the slit would be without the smile, or the lips' seam drawn above a slit the jaw still
    holds open) reads as a double outline that flickers at every m, b, p. 20 %, as above: room
    for the gaps between teeth."""
    face = default_face if name == "default" else portrait_faces[name]
    sl = skin_light(face)
    xs, tops, bottoms, _ = lip_rows(face, inner=True)
    dark = luma(face.render({})) < 0.4 * sl
    at_rest = [max(1, lines(dark[tops[k]:bottoms[k] + 1, x])) for k, x in enumerate(xs)]
    worst = (0.0, 0.0)
    for frame, press in closing_frames(face):
        dark = luma(frame) < 0.4 * sl
        double = sum(lines(dark[tops[k]:bottoms[k] + 1, x]) > at_rest[k] for k, x in enumerate(xs))
        worst = max(worst, (double / len(xs), press))
    share, press = worst
    assert share <= 0.2, f"{share:.0%} of the middle columns cross more dark lines than the photo shows " \
                         f"(lips {press:.0%} closed)"
