"""The teeth at a rounded O keep their own shape: the lips narrow the opening round them and hide
the side teeth, the teeth themselves (fixed to the jaw) are not narrowed with the lips. Judged
from output pixels. Portraits and their licences: tests/data/portraits/SOURCES.md."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from runtime.face import avatars
from tests.conftest import luma

TEETH_SHOWN = ["default", "man_darkskin_smile_teeth.jpg", "man_beard_smile_teeth_turned20_tilted.jpg",
               "woman_sunglasses_smile_small_face.jpg", "woman_older_glasses_neutral.jpg", "man_older_turned15.jpg"]
"""Portraits whose upper teeth show as a clear row at A (the flash-lit bar portrait's teeth are a
thin jagged line that no template finds)."""


def teeth_scale(face) -> tuple[float, float]:
    """(scale, match): how wide the middle upper teeth are at O relative to A (the horizontal scale
    of the A frame's teeth, 0.32 mouth widths of them, that best matches the O frame) and how well
    it matches (normalised correlation)."""
    lm = face.landmarks
    mw = float(np.linalg.norm(lm[61] - lm[291]))
    a = luma(face.render(avatars.POSES["A"]))
    o = luma(face.render(avatars.POSES["O"]))
    cx, y13 = float(lm[[61, 291], 0].mean()), float(lm[13, 1])
    x0, x1 = int(cx - 0.16 * mw), int(cx + 0.16 * mw)
    top = int(y13 - 0.05 * mw)
    band = a[top:int(y13 + 0.15 * mw), x0:x1]
    rows = np.flatnonzero(band.mean(axis=1) > 0.8 * np.percentile(band, 90))  # (the lit teeth's rows)
    assert len(rows) >= 3, "no upper teeth found at A"
    teeth = band[rows[0]:rows[-1] + 1]
    y = top + rows[0]
    roi = o[int(y - 0.15 * mw):int(y + teeth.shape[0] + 0.15 * mw), int(cx - 0.4 * mw):int(cx + 0.4 * mw)]
    best = (-1.0, 0.0)
    for scale in np.linspace(0.5, 1.3, 17):
        template = cv2.resize(teeth, (max(3, round(teeth.shape[1] * scale)), teeth.shape[0]),
                              interpolation=cv2.INTER_AREA)
        best = max(best, (float(cv2.matchTemplate(roi, template, cv2.TM_CCOEFF_NORMED).max()), float(scale)))
    return best[1], best[0]


@pytest.mark.parametrize("name", TEETH_SHOWN)
def test_teeth_at_an_o_keep_their_width(portrait_faces, default_face, name):
    """At the O the middle upper teeth are at least 85 % as wide as at the A (the lips narrow the
    opening round them, the teeth stay on the jaw). Until round 13 the pucker squeezed the whole
    mouth, teeth and all: the teeth at O were 50-75 % as wide as at A, tall thin teeth that the
    review saw as "stretched" (the dark-skinned man's O rated worse than before)."""
    face = default_face if name == "default" else portrait_faces[name]
    scale, match = teeth_scale(face)
    assert match > 0.85, f"the teeth at A are not found at O (best match {match:.2f})"
    assert scale >= 0.85, f"the teeth at O are {scale:.0%} as wide as at A"
