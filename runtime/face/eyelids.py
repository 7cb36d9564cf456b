"""Eye fields of the rig and the closing lids: blinks (keyframed warp plus the lid's skin) and gaze.

A closing upper lid keeps everything above the lid's thin skin band where it is (brows and glasses
never move): the lash line at the lid's margin slides down over the eye as it is, and the thin skin
band just above it is stretched behind the lid. The lid itself, between the resting lid line and
the moving lash line, is painted (LidPainter) with the portrait's own lid skin: per column, the
light (skin, not brow hair or lashes) pixels just above the eye, smoothed across, a little shaded
over the eyeball's curve. The warp is not linear in the closing amount, so the rig keeps it at a
few closing amounts and the renderer blends the two nearest.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from runtime.face import landmarks as L

BLINK_KEYS = 4
"""Keyframes of a blink: closing amounts 1/4, 2/4, 3/4 and 1."""
IRIS_RADIUS = 0.093
"""Iris radius as a fraction of the distance between the eye centres (11.7 mm of 63 mm)."""
LASHES = 0.035
"""Height of the lash line that slides down as it is (eye distances)."""
_SKIN_BAND = 0.015
"""Skin above the lash line that the warp stretches behind the painted lid (eye distances): thin,
because thick brows can sit less than a tenth of the eye distance above the lid."""


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
    crease: np.ndarray
    """Top of the skin band the warp stretches; above it nothing moves."""

    @property
    def x1(self) -> int:
        """One past the last column."""
        return self.x0 + len(self.lid)


def lid(lm: np.ndarray, eye_d: float, eye) -> Lid:
    """The upper lid of one eye (see EYES)."""
    up, low = _lid_lines(lm, eye)
    x0 = int(np.floor(up[0, 0] - 0.05 * eye_d))
    xs = np.arange(x0, int(np.ceil(up[-1, 0] + 0.05 * eye_d)) + 1, dtype=np.float64)
    line = np.interp(xs, up[:, 0], up[:, 1])
    # The mesh's lower lid line sits a little inside the visible margin: close a little past it,
    # except at the corners, where the lids meet.
    u = np.clip(np.abs(xs - (up[0, 0] + up[-1, 0]) / 2) / max(0.5 * (up[-1, 0] - up[0, 0]), 1.0), 0, 1)
    floor = np.interp(xs, low[:, 0], low[:, 1]) + 0.045 * eye_d * np.sqrt(1 - u * u)
    return Lid(x0, line, np.clip(floor - line, 0, None), line - (LASHES + _SKIN_BAND) * eye_d)


def blink_keys(lm: np.ndarray, eye_d: float, region, eye) -> list:
    """(box, displacement) of one eye's blink at each keyframe closing amount."""
    one = lid(lm, eye_d, eye)
    box, xx, yy = region(one.x0, one.crease.min() - 1, one.x1, (one.lid + one.gap).max() + 2)
    cols = np.clip(xx.astype(int) - one.x0, 0, len(one.lid) - 1)
    line, gap, crease = one.lid[cols], one.gap[cols], one.crease[cols]
    lashes = LASHES * eye_d
    keys = []
    for k in range(1, BLINK_KEYS + 1):
        drop = k / BLINK_KEYS * gap
        edge = line + drop
        # Rows crease..edge-lashes show the skin band crease..lid-lashes stretched (the painted lid
        # covers most of it); the last rows the lash line translated; rows below the edge the eye,
        # covered rather than squeezed.
        skin = (yy - crease) * drop / np.maximum(edge - lashes - crease, 1e-3)
        shift = np.where(yy < edge - lashes, skin, drop)
        over = np.clip(edge + 0.5 - yy, 0.0, 1.0)  # a half-pixel anti-aliased leading edge
        d = np.zeros((*xx.shape, 2))
        d[..., 1] = np.where(yy >= crease, shift * over, 0.0)
        keys.append((box, d))
    return keys


def _smooth(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


class LidPainter:
    """Paints the closing upper lids with the portrait's own lid skin; built once per avatar."""

    def __init__(self, portrait: np.ndarray, landmarks: np.ndarray, eye_d: float) -> None:
        lm = landmarks[:, :2].astype(np.float64)
        self.eye_d = eye_d
        self.lids = [lid(lm, eye_d, eye) for eye in EYES]
        light = portrait.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        self.skins = [self._skin(portrait, light, one) for one in self.lids]
        self.lashes = [self._lashes(portrait, light, one) for one in self.lids]
        self.grain = [self._grain(light, one) for one in self.lids]

    def _columns(self, image: np.ndarray, light: np.ndarray, one: Lid, top: np.ndarray, bottom: np.ndarray,
                 low: float, high: float) -> np.ndarray:
        """(columns, 3): per lid column, the mean colour of the pixels between rows top..bottom (a
        few columns wide) whose brightness lies between the low and high percentiles."""
        h, w = light.shape
        reach = max(1, round(0.03 * self.eye_d))
        out = np.zeros((len(one.lid), 3), np.float32)
        for i in range(len(one.lid)):
            xa, xb = max(0, one.x0 + i - reach), min(w, one.x0 + i + reach + 1)
            ya, yb = int(np.clip(top[i], 0, h - 1)), int(np.clip(bottom[i], 1, h))
            ya = min(ya, yb - 1)
            values = light[ya:yb, xa:xb].ravel()
            if not len(values):
                out[i] = out[i - 1] if i else 128
                continue
            keep = (values >= np.percentile(values, low)) & (values <= np.percentile(values, high))
            pixels = image[ya:yb, xa:xb].reshape(-1, 3).astype(np.float32)
            out[i] = pixels[keep].mean(axis=0) if keep.any() else pixels.mean(axis=0)
        return cv2.GaussianBlur(out[None], (0, 0), max(1.0, 0.03 * self.eye_d))[0]

    def _skin(self, portrait, light, one: Lid) -> np.ndarray:
        """Lid skin colour per column: the middle of the light just above the lashes (brow hairs,
        lashes and the crease's shadow are darker, glints on glasses lighter)."""
        e = self.eye_d
        return self._columns(portrait, light, one, np.round(one.lid - 0.1 * e), np.round(one.lid - LASHES * e),
                             20, 65)

    def _lashes(self, portrait, light, one: Lid) -> np.ndarray:
        """Lash line colour per column: the darkest pixels along the lid's margin."""
        e = self.eye_d
        return self._columns(portrait, light, one, np.round(one.lid - 0.02 * e), np.round(one.lid + 0.02 * e) + 1,
                             0, 25)

    def _grain(self, light, one: Lid) -> np.ndarray:
        """Fine skin texture for the lid (rows from the top of the painted lid, columns): the
        portrait's own skin just under the eye, without its shading."""
        e, (h, w) = self.eye_d, light.shape
        rows = int(np.ceil(one.gap.max() + (LASHES + _SKIN_BAND) * e)) + 3
        ys = np.clip(np.round(one.lid + one.gap + 0.03 * e).astype(int)[None] + np.arange(rows)[:, None], 0, h - 1)
        xs = np.clip(one.x0 + np.arange(len(one.lid)), 0, w - 1)[None]
        patch = light[ys, xs]
        detail = patch - cv2.GaussianBlur(patch, (0, 0), max(1.5, 0.015 * e))
        return np.clip(0.6 * detail, -6, 6).astype(np.float32)

    def paint(self, frame: np.ndarray, closing, shifts) -> None:
        """Paint both upper lids in place; closing amounts and (dx, dy) head shifts per eye."""
        h, w = frame.shape[:2]
        e = self.eye_d
        lash_w = 0.022 * e
        for one, skin, lash, grain, amount, (dx, dy) in zip(self.lids, self.skins, self.lashes, self.grain,
                                                              closing, shifts, strict=True):
            if amount < 0.02:
                continue
            top = one.crease + dy
            edge = one.lid + amount * one.gap + dy  # the lash line's lower edge
            x0, x1 = max(0, one.x0 + dx), min(w, one.x1 + dx)
            y0, y1 = max(0, int(top.min()) - 1), min(h, int(np.ceil(edge.max())) + 2)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            cols = slice(x0 - one.x0 - dx, x1 - one.x0 - dx)
            top, edge, skin, lash, grain = top[cols], edge[cols], skin[cols], lash[cols], grain[:, cols]
            yy = np.arange(y0, y1, dtype=np.float32)[:, None]
            bottom = edge - lash_w
            span = np.maximum(bottom - top, 1.0)
            t = np.clip((yy - top) / span, 0, 1)
            u = np.linspace(-1, 1, len(top), dtype=np.float32)
            # The lid rounds over the eyeball: lightest in the middle, shaded towards the lash line
            # and the corners.
            shade = (0.93 + 0.05 * np.sin(np.pi * t) - 0.08 * _smooth((t - 0.6) / 0.4)) * (1 - 0.08 * u * u)
            r = np.clip((yy - np.floor(top)).astype(int), 0, len(grain) - 1)
            rgb = skin[None] * shade[..., None] + np.take_along_axis(grain, r, axis=0)[..., None]
            # The lash line: thickest in the middle of the lid, thinning towards the corners.
            thick = lash_w * (0.5 + 0.5 * np.sqrt(np.clip(1 - u * u, 0, 1)))
            ink = np.exp(-0.5 * ((yy - (edge - 0.5 * thick)) / np.maximum(0.45 * thick, 0.5)) ** 2)
            rgb = rgb + (lash[None] - rgb) * (0.9 * ink)[..., None]
            alpha = _smooth((yy - top) / 4.0) * _smooth((edge + 0.5 - yy) / 1.5) * min(1.0, amount / 0.15)
            alpha *= _smooth(one.gap[cols] / (0.03 * e))  # fading out into the eye's corners
            alpha = (alpha * (edge > top + 0.5))[..., None]
            region = frame[y0:y1, x0:x1]
            region[:] = (region * (1 - alpha) + rgb * alpha + 0.5).clip(0, 255).astype(np.uint8)


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
