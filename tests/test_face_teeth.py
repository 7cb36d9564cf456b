"""Made-up teeth as a visitor sees them, judged from output pixels: on a portrait that showed no
teeth, the upper row at an open vowel is a row of front teeth in the mouth's shade, fading towards
the corners (the two front teeth parted by a seam, the ones beside them a little darker), never
brighter than the photo's brightest skin; neither an evenly lit strip (a "denture sticker") nor two
front teeth with grey blocks beside them (a mouth with teeth missing).
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
def test_made_up_teeth_are_a_row_fading_to_the_corners_not_a_strip_nor_two_teeth(portrait_faces, name):
    """At A: the seam between the two front teeth (within 0.012 mouth widths of the middle) is at
    most 80 % as light as the front teeth's middles (0.03-0.08 mouth widths out), the teeth beside
    them (0.12-0.2 out) are darker than the front ones but still teeth (70-85 % of their light), the
    ones further out (0.2-0.26) at most 65 % (the row fades into the mouth's shade), and the
    brightest teeth pixels (99th percentile) are darker than the photo's skin light. Now: seam
    69-71 %, side teeth 76-79 %, further out 55-58 %.
    An evenly lit row (seam 79-81 %, side teeth 70-73 % and no fade beyond) read as a denture
    sticker; the row that followed it (side teeth 62-66 %, the top of each tooth in a dark band)
    read to a blind reviewer as "two front teeth and grey blobs", teeth missing."""
    face = portrait_faces[name]
    profile, off, pixels = upper_row(face, "A")
    assert len(pixels) > 30, "no upper teeth at A"
    front = np.nanmedian(profile[(np.abs(off) > 0.03) & (np.abs(off) < 0.08)])
    gap = np.nanmin(profile[np.abs(off) < 0.012])
    side = np.nanmedian(profile[(np.abs(off) > 0.12) & (np.abs(off) < 0.2)])
    further = np.nanmedian(profile[(np.abs(off) > 0.2) & (np.abs(off) < 0.26)])
    assert gap <= 0.8 * front, f"no seam between the front teeth ({gap:.0f} vs {front:.0f})"
    assert side <= 0.85 * front, f"the side teeth are lit like the front ones ({side:.0f} vs {front:.0f})"
    assert side >= 0.7 * front, f"the side teeth are grey blocks beside the front two ({side:.0f} vs {front:.0f})"
    assert further <= 0.65 * front, f"the row does not fade to the corners ({further:.0f} vs {front:.0f})"
    bright = float(np.percentile(pixels, 99))
    assert bright < skin_light(face), f"teeth brighter than the skin's light ({bright:.0f})"
