"""Made-up teeth as a visitor sees them, judged from output pixels: on a portrait that showed no
teeth, the upper row at an open vowel is separate teeth in the mouth's shade (the two front teeth
parted by a darker gap, the ones beside them darker than the front two), never brighter than the
photo's brightest skin; not an evenly lit strip (a "denture sticker").
Portraits and their licences: tests/data/portraits/SOURCES.md."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.face import avatars
from tests.conftest import luma
from tests.test_face_depth import CLOSED, skin_light, teeth_like


def upper_row(face, pose: str):
    """The upper teeth at a pose: the luminance of each column's lit teeth pixels along the row
    (NaN where none), the columns' offsets from the mouth's middle (mouth widths) and all the teeth
    pixels' luminance."""
    lm = face.landmarks
    mw = float(np.linalg.norm(lm[61] - lm[291]))
    cx, cy = float(lm[[61, 291], 0].mean()), float(lm[[13, 14], 1].mean())  # (the teeth's middle)
    frame = face.render(avatars.POSES[pose]).astype(np.float32)
    x0, x1 = int(cx - 0.3 * mw), int(cx + 0.3 * mw)
    box = frame[int(cy - 0.1 * mw):int(cy + 0.2 * mw), x0:x1]
    teeth = teeth_like(box, 0.3 * skin_light(face))
    gray = luma(box)
    profile = np.array([np.median(gray[teeth[:, x], x]) if teeth[:, x].sum() >= 2 else np.nan
                        for x in range(box.shape[1])])
    offsets = (np.arange(x0, x1) - cx) / mw
    return profile, offsets, gray[teeth]


@pytest.mark.parametrize("name", CLOSED)
def test_made_up_teeth_are_separate_teeth_in_shade_not_a_flat_strip(portrait_faces, name):
    """At A: the gap between the two front teeth (within 0.012 mouth widths of the middle) is at
    most 74 % as light as the front teeth's middles (0.03-0.08 mouth widths out), the teeth beside
    them (0.12-0.2 out) at most 67 % as light as the front ones, and the brightest teeth pixels
    (99th percentile) darker than the photo's skin light. The old row (gap 79-81 %, side teeth
    70-73 %) lit its front teeth nearly alike with gaps a visitor hardly saw: an even strip that
    read as a denture sticker."""
    face = portrait_faces[name]
    profile, off, pixels = upper_row(face, "A")
    assert len(pixels) > 30, "no upper teeth at A"
    front = np.nanmedian(profile[(np.abs(off) > 0.03) & (np.abs(off) < 0.08)])
    gap = np.nanmin(profile[np.abs(off) < 0.012])
    side = np.nanmedian(profile[(np.abs(off) > 0.12) & (np.abs(off) < 0.2)])
    assert gap <= 0.74 * front, f"the front teeth's gap is as light as the teeth ({gap:.0f} vs {front:.0f})"
    assert side <= 0.67 * front, f"the side teeth are lit like the front ones ({side:.0f} vs {front:.0f})"
    bright = float(np.percentile(pixels, 99))
    assert bright < skin_light(face), f"teeth brighter than the skin's light ({bright:.0f})"
