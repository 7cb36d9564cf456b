"""The corners of an open mouth as a visitor sees them, from output pixels: beside the last teeth of
a smiling photo the mouth's inside at A is one dark, not the photo's dark corner as a lighter wedge
with an edge across it. Portraits and their licences: tests/data/portraits/SOURCES.md."""

from __future__ import annotations

import numpy as np

from runtime.face import avatars
from runtime.face import landmarks as L
from tests.conftest import luma


def lighter_line(column: np.ndarray, dark: float) -> bool:
    """Whether a column of luminance has a row lighter by more than 10 than the dark (< `dark`)
    both above and below it: an edge drawn across the mouth's inside."""
    shade = column < dark
    for i in range(1, len(column) - 1):
        if not (shade[:i].any() and shade[i + 1:].any()) or column[i] < max(column[i - 1], column[i + 1]):
            continue
        if column[i] - max(column[:i][shade[:i]].min(), column[i + 1:][shade[i + 1:]].min()) > 10:
            return True
    return False


def test_the_corners_beside_the_last_teeth_are_one_dark_at_a(default_face):
    """At A, in each outer part of the mouth (beyond 0.3 of its width from the middle), the columns
    where the photo shows its dark corner between the upper lip and the parting line (no teeth),
    seen from the upper lip down into the opening, show no lighter line inside the dark in more than
    3 in 10. Until round 16 the photo's dark corner above the line the lips part along was only
    tinted, and the default avatar's right corner showed a lighter, pinkish wedge with a dotted edge
    along the line (7 of 10 columns; none after)."""
    face = default_face
    lm = face.landmarks
    mw = float(np.linalg.norm(lm[61] - lm[291]))
    frame = luma(face.render(avatars.POSES["A"]))
    photo = luma(face.portrait.astype(np.float32))
    lip = float(luma(face.mouth.lip[None])[0])
    split, upper = face.rig.split, lm[L.LIPS_UPPER_INNER]
    middle = float(lm[[61, 291], 0].mean())
    for sign in (-1, 1):
        lines = columns = 0
        for x in range(int(split[:, 0].min()), int(split[:, 0].max()) + 1):
            if sign * (x - middle) < 0.3 * mw:
                continue
            top = int(np.ceil(np.interp(x, upper[:, 0], upper[:, 1])))
            line = int(np.interp(x, split[:, 0], split[:, 1]))
            corner = photo[top:line, x] < 0.5 * lip
            if corner.sum() < 2 or photo[top:line + 3, x - 2:x + 3].max() > lip:  # (teeth there)
                continue
            columns += 1
            first = top + int(np.argmax(corner))
            lines += lighter_line(frame[first:line + 6, x], 0.6 * lip)
        assert columns >= 5
        assert lines <= 0.3 * columns, f"{lines} of {columns} columns show a lighter line in the corner"
