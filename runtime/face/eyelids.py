"""Eye fields of the rig: blinks (keyframed, so the lid closes as a sheet) and gaze.

A closing upper lid is the portrait's own lid skin: the band between the lid crease and the lash
line unfolds downwards, uniformly stretched, with the lash line at its leading edge; above the
crease nothing moves (brows and glasses stay put) and below the leading edge the eye is shown
as it is (covered, not squeezed). The displacement is not linear in the closing amount, so the
rig keeps it at a few closing amounts and the renderer blends the two nearest.
"""

from __future__ import annotations

import cv2
import numpy as np

from runtime.face import landmarks as L

BLINK_KEYS = 4
"""Keyframes of a blink: closing amounts 1/4, 2/4, 3/4 and 1."""
IRIS_RADIUS = 0.093
"""Iris radius as a fraction of the distance between the eye centres (11.7 mm of 63 mm)."""


def _lid_lines(lm, eye):
    """Upper and lower lid lines of one eye (corners included, so the opening closes at the ends)."""
    upper_ids, lower_ids, corners = eye
    ends = lm[corners]
    up = np.concatenate([lm[upper_ids], ends])
    low = np.concatenate([lm[lower_ids], ends])
    return up[np.argsort(up[:, 0])], low[np.argsort(low[:, 0])]


EYES = ((L.RIGHT_EYE_UPPER, L.RIGHT_EYE_LOWER, L.RIGHT_EYE_CORNERS, L.RIGHT_BROW[5:]),
        (L.LEFT_EYE_UPPER, L.LEFT_EYE_LOWER, L.LEFT_EYE_CORNERS, L.LEFT_BROW[5:]))


def blink_keys(lm: np.ndarray, eye_d: float, region, eye) -> list:
    """(box, displacement) of one eye's blink at each keyframe closing amount."""
    up, low = _lid_lines(lm, eye[:3])
    brow = lm[eye[3]]
    brow = brow[np.argsort(brow[:, 0])]
    x0, x1 = up[0, 0] - 0.05 * eye_d, up[-1, 0] + 0.05 * eye_d
    box, xx, yy = region(x0, brow[:, 1].min(), x1, low[:, 1].max() + 0.06 * eye_d)
    lid = np.interp(xx, up[:, 0], up[:, 1])
    # The mesh's lower lid line sits a little inside the visible margin: close a little past it.
    floor = np.interp(xx, low[:, 0], low[:, 1]) + 0.045 * eye_d
    gap = np.clip(floor - lid, 0, None)
    room = lid - np.interp(xx, brow[:, 0], brow[:, 1])
    # The lid band that unfolds: about one opening high plus the lashes, never reaching the brow.
    band = np.clip(np.minimum(gap + 0.06 * eye_d, 0.6 * room), 0.02 * eye_d, None)
    crease = lid - band
    lashes = np.minimum(0.035 * eye_d, 0.5 * band)  # the lash line moves down as it is, unstretched
    keys = []
    for k in range(1, BLINK_KEYS + 1):
        drop = k / BLINK_KEYS * gap
        edge = lid + drop
        # Rows crease..edge-lashes show the skin crease..lid-lashes stretched; the last rows the lash
        # line translated; rows below the edge the eye, covered rather than squeezed.
        skin = (yy - crease) * drop / np.maximum(edge - lashes - crease, 1e-3)
        shift = np.where(yy < edge - lashes, skin, drop)
        over = np.clip(edge + 0.5 - yy, 0.0, 1.0)  # a half-pixel anti-aliased leading edge
        d = np.zeros((*xx.shape, 2))
        d[..., 1] = np.where(yy >= crease, shift * over, 0.0)
        keys.append((box, d))
    return keys


def eye_travel(lm: np.ndarray, eye_d: float) -> tuple[float, float]:
    """How far (pixels) the iris can move sideways and up/down and stay inside the eye opening."""
    widths, heights = [], []
    for eye in EYES:
        up, low = _lid_lines(lm, eye[:3])
        widths.append(up[-1, 0] - up[0, 0])
        heights.append(float((np.interp(up[:, 0], low[:, 0], low[:, 1]) - up[:, 1]).max()))
    r = IRIS_RADIUS * eye_d
    sideways = float(np.clip(0.5 * min(widths) - r - 0.02 * eye_d, 0.015 * eye_d, 0.08 * eye_d))
    return sideways, float(np.clip(0.25 * min(heights), 0.01 * eye_d, 0.035 * eye_d))


def gaze(lm: np.ndarray, eye_d: float, region, axis: int):
    """(box, displacement) that moves both irises by one unit of travel along x (0) or y (1)."""
    eye_r, eye_l = lm[L.RIGHT_EYE].mean(axis=0), lm[L.LEFT_EYE].mean(axis=0)
    lo, hi = np.minimum(eye_r, eye_l), np.maximum(eye_r, eye_l)
    box, xx, _ = region(lo[0] - 0.45 * eye_d, lo[1] - 0.3 * eye_d, hi[0] + 0.45 * eye_d, hi[1] + 0.3 * eye_d)
    mask = np.zeros(xx.shape, np.uint8)
    for eye in (L.RIGHT_EYE, L.LEFT_EYE):
        pts = (lm[eye] - [box[0], box[1]]).round().astype(np.int32)
        cv2.fillPoly(mask, [pts], 255)
    # The field fades out inside the opening, so no skin is pulled in over the lid margins.
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=max(1, round(0.015 * eye_d)))
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), max(1.0, 0.025 * eye_d))
    d = np.zeros((*xx.shape, 2))
    d[..., axis] = eye_travel(lm, eye_d)[axis] * soft
    return box, d
