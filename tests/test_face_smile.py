"""A smile as a visitor sees it, from output pixels: joy curves the photo's own lips and teeth and
draws nothing of its own along them (no dark line under the teeth running past the mouth's
corners). Portraits and their licences: tests/data/portraits/SOURCES.md."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from runtime.face import avatars
from tests.conftest import FACE_PORTRAITS, luma
from tests.test_face_depth import skin_light
from tests.test_face_inside import face_of

ALL = ["default", *FACE_PORTRAITS]


def thin_dark(face, pose: dict) -> int:
    """Pixels in the box around the mouth (1.8 x 0.9 mouth widths) that are a thin dark line or dot:
    darker by a quarter of the skin's light than the closing of their neighbourhood (a disc of 14 %
    of the mouth's width), so lines and dots, not the broad shade of an open mouth."""
    mw = float(np.linalg.norm(face.landmarks[61] - face.landmarks[291]))
    cx, cy = face.landmarks[[13, 14]].mean(axis=0)
    gray = luma(face.render(pose))[int(cy - 0.4 * mw):int(cy + 0.5 * mw), int(cx - 0.9 * mw):int(cx + 0.9 * mw)]
    k = max(5, int(0.14 * mw)) | 1
    line = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return int((line > 0.25 * skin_light(face)).sum())


@pytest.mark.parametrize("name", ALL)
def test_joy_draws_no_dark_line_along_the_lips(request, name):
    """Joy adds at most 8 per mille of the mouth's width squared of thin dark lines and dots around
    the mouth to what the face shows at rest (a one-pixel line along the mouth is about 10 at these
    sizes). The smile stretches the lips, and the old renderer took that stretch for the lips
    parting: it painted the mouth's dark inside as a line under the teeth of every smiling photo,
    running past the corners of the default avatar's mouth like eyeliner (+37 per mille there,
    +16 to +33 on the other smiles with teeth; the photo's own stretched smile is -24 to +6)."""
    face = face_of(request, name)
    mw = float(np.linalg.norm(face.landmarks[61] - face.landmarks[291]))
    added = thin_dark(face, avatars.POSES["joy"]) - thin_dark(face, avatars.POSES["rest"])
    assert added <= 0.008 * mw * mw, f"joy draws {added} pixels of dark lines ({added / mw / mw * 1000:.1f} per mille)"
