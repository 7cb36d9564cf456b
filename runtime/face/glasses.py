"""Glasses: a frame is rigid, so the rig holds still the fields that would bend it.

A frame is found by its bridge: across the nose between the inner eye corners, bare skin shades
smoothly from top to bottom, while a bridge is a thin horizontal band that differs from the
skin above and below it (measured on the portrait at enrollment, ~35 grey levels for a plastic
or metal bridge against < 6 for bare skin). Where glasses are, the area they can cover (brows
to well below the eyes, past the outer corners) keeps still under the brow, cheek and smile
fields, fading in over a distance larger than those fields move, so nothing folds; blinks and
gaze happen inside the lenses and stay.
"""

from __future__ import annotations

import cv2
import numpy as np

from runtime.face import landmarks as L
from runtime.face.ease import smoothstep

_BRIDGE_CONTRAST = 15.0
"""Grey levels a band across the nose must differ from the skin above and below it."""


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def bridge_contrast(portrait: np.ndarray, landmarks: np.ndarray) -> float:
    """How strongly a thin horizontal band stands out across the nose between the eyes."""
    lm = landmarks[:, :2]
    e = float(np.linalg.norm(lm[33] - lm[263]))
    inner_r, inner_l = lm[133], lm[362]
    cx, half = (inner_r[0] + inner_l[0]) / 2, 0.25 * abs(inner_l[0] - inner_r[0])
    y0 = lm[L.RIGHT_BROW_INNER + L.LEFT_BROW_INNER, 1].min() - 0.1 * e
    y1 = (inner_r[1] + inner_l[1]) / 2 + 0.15 * e
    h, w = portrait.shape[:2]
    rows = slice(max(0, int(y0)), min(h, int(y1)))
    cols = slice(max(0, int(cx - half)), min(w, int(cx + half) + 1))
    profile = _luma(portrait[rows, cols]).mean(axis=1)
    k = max(2, round(0.03 * e))
    if len(profile) <= 2 * k + 1:
        return 0.0
    band = np.abs(profile[k:-k] - 0.5 * (profile[:-2 * k] + profile[2 * k:]))
    return float(band.max())


def still_weight(portrait: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """Per pixel 0 (hold still: a glasses frame may be there) to 1 (free), or None without glasses."""
    if bridge_contrast(portrait, landmarks) < _BRIDGE_CONTRAST:
        return None
    lm = landmarks[:, :2].astype(np.float32)
    e = float(np.linalg.norm(lm[33] - lm[263]))
    up = np.array([0, -0.04 * e], np.float32)
    down = np.array([0, 0.3 * e], np.float32)
    out = np.array([0.22 * e, 0], np.float32)
    points = np.concatenate([lm[L.RIGHT_BROW + L.LEFT_BROW] + up,
                             lm[L.RIGHT_EYE_LOWER + L.LEFT_EYE_LOWER] + down,
                             (lm[33] - out)[None], (lm[263] + out)[None],
                             (lm[33] - out + down)[None], (lm[263] + out + down)[None]])
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    free = np.full(portrait.shape[:2], 255, np.uint8)
    cv2.fillPoly(free, [hull], 0)
    distance = cv2.distanceTransform(free, cv2.DIST_L2, 5)
    return smoothstep(distance / (0.2 * e)).astype(np.float32)
