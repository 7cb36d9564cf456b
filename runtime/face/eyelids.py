"""Eye fields of the rig: blinks (a warp, computed per frame, that slides the person's own upper lid
down) and gaze.

A closing upper lid is the portrait's own: its lash line (as thick as the photo's lashes and liner
are) slides down over the eye as it is, and the lid's skin above it, from the lashes up to where
the brow, a glasses frame or a glint begins, is drawn down behind it and unfolds over the eye.
Above that skin nothing moves (brows and frames stay). The lid's light (the fold's shadow lifted,
the lid rounding over the eyeball) is set afterwards (runtime.face.lidskin). The warp is not
linear in the closing amount, so it is computed for each frame's amount over the lid's small box.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from runtime.face import landmarks as L

IRIS_RADIUS = 0.093
"""Iris radius as a fraction of the distance between the eye centres (11.7 mm of 63 mm)."""
LASHES = 0.035
"""Height of the lash line that slides down as it is, unless the photo shows thicker (eye distances)."""
_MAX_LASHES = 0.07
_SKIN_BAND = (0.015, 0.09)
"""How much lid skin above the lashes slides down behind them (eye distances): at least a thin band,
at most this much, and never the brow's hair, a frame or a glint."""
_BELOW_BROW = 0.03
"""The sliding skin stops at least this far under the mesh's lower brow line (eye distances)."""
_BROW_LOWER = ([46, 53, 52, 65, 55], [276, 283, 282, 295, 285])
"""Mesh points along the lower edge of the right and left brows."""
_PAST_CORNERS = 0.05
CREASE_SMOOTH = 0.1
"""How smooth the sliding skin band's top is along the eye (Gaussian sigma, eye distances)."""
"""How far a lid's columns reach past the eye's corners (eye distances)."""
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _lid_lines(lm, eye):
    """Upper and lower lid lines of one eye (corners included, so the opening closes at the ends)."""
    upper_ids, lower_ids, corners = eye
    ends = lm[corners]
    up = np.concatenate([lm[upper_ids], ends])
    low = np.concatenate([lm[lower_ids], ends])
    return up[np.argsort(up[:, 0])], low[np.argsort(low[:, 0])]


EYES = ((L.RIGHT_EYE_UPPER, L.RIGHT_EYE_LOWER, L.RIGHT_EYE_CORNERS),
        (L.LEFT_EYE_UPPER, L.LEFT_EYE_LOWER, L.LEFT_EYE_CORNERS))


@dataclass
class Lid:
    """One upper lid's lines per column x0..x1-1 of the portrait (pixels)."""

    x0: int
    lid: np.ndarray
    """The lid's margin at rest (the mesh's upper lid line)."""
    gap: np.ndarray
    """How far the margin travels to close the eye (to a little past the lower lid line)."""
    lashes: np.ndarray
    """Height of the lash line (lashes and liner) above the margin, which slides down as it is."""
    skin: np.ndarray
    """Height of the lid skin above the lashes that is drawn down behind them."""

    @property
    def x1(self) -> int:
        """One past the last column."""
        return self.x0 + len(self.lid)

    @property
    def crease(self) -> np.ndarray:
        """Top of what moves: above it nothing does."""
        return self.lid - self.lashes - self.skin


def lid(lm: np.ndarray, eye_d: float, eye, portrait: np.ndarray | None = None) -> Lid:
    """The upper lid of one eye (see EYES); its lash line and sliding skin measured on `portrait`
    (without it: a thin lash line and skin band)."""
    up, low = _lid_lines(lm, eye)
    x0 = int(np.floor(up[0, 0] - _PAST_CORNERS * eye_d))
    xs = np.arange(x0, int(np.ceil(up[-1, 0] + _PAST_CORNERS * eye_d)) + 1, dtype=np.float64)
    line = np.interp(xs, up[:, 0], up[:, 1])
    # The mesh's lower lid line sits a little inside the visible margin: close a little past it,
    # except at the corners, where the lids meet.
    u = np.clip(np.abs(xs - (up[0, 0] + up[-1, 0]) / 2) / max(0.5 * (up[-1, 0] - up[0, 0]), 1.0), 0, 1)
    floor = np.interp(xs, low[:, 0], low[:, 1]) + 0.045 * eye_d * np.sqrt(1 - u * u)
    lashes = np.full(len(xs), LASHES * eye_d)
    skin = np.full(len(xs), _SKIN_BAND[0] * eye_d)
    if portrait is not None:
        brow = lm[_BROW_LOWER[0] if list(eye[0]) == list(L.RIGHT_EYE_UPPER) else _BROW_LOWER[1]]
        brow = brow[np.argsort(brow[:, 0])]
        room = line - (np.interp(xs, brow[:, 0], brow[:, 1]) + _BELOW_BROW * eye_d)
        lashes, skin = _measure(portrait, xs, line, eye_d, room)
    return Lid(x0, line, np.clip(floor - line, 0, None), lashes, skin)


def _measure(portrait: np.ndarray, xs: np.ndarray, line: np.ndarray, e: float, room: np.ndarray):
    """Per column above the lid's margin: the lash line's height (what is darker than the lid's
    skin right above the margin) and the height of the lid skin above it, up to where something
    else begins (darker: brow hair, a frame; much lighter: a glint) or `room` ends (pixels)."""
    light = cv2.GaussianBlur(portrait.astype(np.float32) @ _LUMA, (0, 0), 1.0)
    h, w = light.shape
    top = int(max(0, (line - (_MAX_LASHES + _SKIN_BAND[1]) * e).min() - 1))
    cols = np.clip(xs.astype(int), 0, w - 1)
    window = light[top:int(min(h, line.max() + 1)), cols]
    # The lid skin's light: the lit part of the band above the margin, per eye.
    level = float(np.percentile(window, 75))
    lashes = np.zeros(len(xs))
    skin = np.zeros(len(xs))
    for i, (x, margin) in enumerate(zip(cols, line, strict=True)):
        k = round(LASHES * e)
        while k < round(_MAX_LASHES * e) and round(margin) - k >= 0 and light[round(margin) - k, x] < 0.8 * level:
            k += 1
        lashes[i] = k
        n = 0
        limit = min(_SKIN_BAND[1] * e, max(room[i] - k, 0.0))
        while n < limit and round(margin) - k - n - 1 >= 0:
            value = light[round(margin) - k - n - 1, x]
            if not 0.6 * level < value < 1.35 * level:
                break
            n += 1
        skin[i] = n
    # One column's reach is not its neighbours' (a lash, a speck): the band follows the lowest
    # nearby, smoothly; the lash line is as thick as its thicker neighbours.
    reach = max(1, round(0.04 * e))
    kernel = np.ones((1, 2 * reach + 1), np.uint8)
    skin = cv2.erode(skin[None].astype(np.float32), kernel)[0]
    lashes = cv2.dilate(lashes[None].astype(np.float32), kernel)[0]
    sigma = max(1.0, 0.03 * e)
    # (the band's top, the crease, is one smooth arc along the eye: a band rising steeply from a thin
    # one near a corner drew the edge of a dome across the closed lid)
    skin = cv2.GaussianBlur(skin[None], (0, 0), max(1.0, CREASE_SMOOTH * e), borderType=cv2.BORDER_REPLICATE)[0]
    lashes = cv2.GaussianBlur(lashes[None], (0, 0), sigma)[0]
    return lashes.astype(np.float64), np.clip(skin, _SKIN_BAND[0] * e, _SKIN_BAND[1] * e).astype(np.float64)


class Blink:
    """One eye's blink as a warp: the field at any closing amount, computed per frame (the lid
    travels; no blend of fields at fixed amounts, which would show two half-moved lash lines)."""

    def __init__(self, lm: np.ndarray, eye_d: float, region, eye, one: Lid | None = None) -> None:
        one = one if one is not None else lid(lm, eye_d, eye)
        self.box, xx, yy = region(one.x0, one.crease.min() - 1, one.x1, (one.lid + one.gap).max() + 2)
        cols = np.clip(xx.astype(int) - one.x0, 0, len(one.lid) - 1)
        self._yy = yy.astype(np.float32)
        self._line, self._gap, self._crease, self._lashes = (a[cols].astype(np.float32) for a in (
            one.lid, one.gap, one.crease, one.lashes))
        self._d = np.zeros((*xx.shape, 2), np.float32)

    def field(self, amount: float) -> np.ndarray:
        """(h, w, 2) displacement over self.box at closing amount 0..1 (reused buffer)."""
        yy, crease, lashes = self._yy, self._crease, self._lashes
        drop = np.float32(amount) * self._gap
        edge = self._line + drop
        # Rows crease..edge-lashes show the lid's skin crease..lid-lashes drawn down; the last
        # rows the lash line translated; rows below the edge the eye, covered rather than squeezed.
        skin = (yy - crease) * drop / np.maximum(edge - lashes - crease, 1e-3)
        shift = np.where(yy < edge - lashes, skin, drop)
        over = np.clip(edge + 0.5 - yy, 0.0, 1.0)  # a half-pixel anti-aliased leading edge
        self._d[..., 1] = np.where(yy >= crease, shift * over, 0.0)
        return self._d


def behind_dark_lenses(portrait: np.ndarray, landmarks: np.ndarray) -> bool:
    """Whether an eye is hidden behind dark glasses: its opening is dark and nearly flat (no eye
    white against an iris), measured against the cheeks' light. Lids and gaze there would be drawn
    over the lens (a glow), so such an avatar does not blink."""
    lm = landmarks[:, :2].astype(np.float32)
    light = portrait.astype(np.float32) @ _LUMA
    r = max(2, int(0.04 * np.linalg.norm(lm[33] - lm[263])))
    cheeks = np.concatenate([light[int(y) - r:int(y) + r, int(x) - r:int(x) + r].ravel() for x, y in lm[[50, 280]]])
    skin = float(np.percentile(cheeks, 90)) if cheeks.size > 20 else 170.0
    for eye in (L.RIGHT_EYE, L.LEFT_EYE):
        mask = cv2.fillPoly(np.zeros(light.shape, np.uint8), [np.round(lm[eye]).astype(np.int32)], 1).astype(bool)
        values = light[mask]
        if values.size < 10:
            continue
        high, low = np.percentile(values, 90), np.percentile(values, 10)
        if high < 0.45 * skin and high - low < 0.22 * skin:
            return True
    return False


def eye_travel(lm: np.ndarray, eye_d: float) -> tuple[float, float]:
    """How far (pixels) the iris can move sideways and up/down and stay inside the eye opening."""
    widths, heights = [], []
    for eye in EYES:
        up, low = _lid_lines(lm, eye)
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
