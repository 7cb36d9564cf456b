"""The lower lip's inner edge at an open vowel as a visitor sees it, judged from output pixels: it
turns into the mouth in the lip's own colour, getting darker; no red line round the opening of a
pale-lipped mouth. Portraits and their licences: tests/data/portraits/SOURCES.md."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.face import avatars
from runtime.face import landmarks as L
from tests.conftest import luma


def saturation(rgb: np.ndarray) -> np.ndarray:
    """HSV saturation (0..1) per pixel."""
    rgb = rgb.astype(np.float32)
    return (rgb.max(axis=-1) - rgb.min(axis=-1)) / np.maximum(rgb.max(axis=-1), 1.0)


@pytest.mark.parametrize("name", ["woman_sunglasses_smile_small_face.jpg"])
@pytest.mark.parametrize("pose", ["A", "O"])
def test_no_red_line_along_the_lower_lips_inner_edge(portrait_faces, name, pose):
    """Over the middle of the mouth, where the lower lip turns into the open mouth (per column, the
    pixels around the lip's inner edge that are darker than the lip a little further down but not
    cavity-dark), at most 30 % are much more saturated than that lip (HSV saturation 0.08 above it):
    the old inner edge took the cavity's red, lightened, and drew a red line under the tongue of
    this pale-lipped mouth (51-56 % of the edge; now 12-25 %)."""
    face = portrait_faces[name]
    lm = face.landmarks
    mw = float(np.linalg.norm(lm[61] - lm[291]))
    cx = float(lm[[61, 291], 0].mean())
    frame = face.render(avatars.POSES[pose])
    inner = face.landmarks_at(avatars.POSES[pose])[L.LIPS_LOWER_INNER]
    inner = inner[np.argsort(inner[:, 0])]
    found, red = 0, 0
    for x in range(int(cx - 0.15 * mw), int(cx + 0.15 * mw)):
        y = float(np.interp(x, inner[:, 0], inner[:, 1]))
        lip = frame[int(y + 0.07 * mw):int(y + 0.11 * mw), x]
        lip_sat, lip_light = float(np.median(saturation(lip))), float(np.median(luma(lip)))
        column = frame[int(y - 0.03 * mw):int(y + 0.06 * mw), x]
        light = luma(column)
        edge = (light > 0.55 * lip_light) & (light < 0.95 * lip_light)
        found += int(edge.sum())
        red += int((edge & (saturation(column) > lip_sat + 0.08)).sum())
    assert found > 10, "no lower lip edge found"
    assert red <= 0.3 * found, f"{red / found:.0%} of the lower lip's inner edge is a red line"
