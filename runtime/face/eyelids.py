"""Eye fields of the rig and the closing lids: blinks (keyframed warp plus the lid's skin) and gaze.

A closing upper lid keeps everything above the lid's thin skin band where it is (brows and glasses
never move): the lash line at the lid's margin slides down over the eye as it is, and the thin skin
band just above it is stretched behind the lid. The lid itself, between the resting lid line and
the moving lash line, is painted (LidPainter) as skin made from the portrait: the colour of its
lit lid skin, its own skin texture, shaded over the eyeball's curve, with a thin dark lash line,
fading into the skin around it. The warp is not linear in the closing amount, so the rig keeps it
at a few closing amounts and the renderer blends the two nearest.
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
_LID_SKIN = 0.075
"""Lid skin above the lash line that slides down over the eye as it closes (eye distances)."""
_BELOW_BROW = 0.06
"""The sliding skin stops this far under the brow's lower edge (eye distances)."""
_BROW_LOWER = ([46, 53, 52, 65, 55], [276, 283, 282, 295, 285])
"""Mesh points along the lower edge of the right and left brows."""
_TOP = 0.05
"""How far above the resting lashes the painted lid fades into the skin (eye distances)."""
_PAST_CORNERS = 0.05
"""How far a lid's columns reach past the eye's corners (eye distances)."""
_GRAIN = 0.03
"""Typical texture of lid skin: relative brightness changes (robust standard deviation); the painted
lid takes the grain of the skin above it, within half and twice this."""


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
    x0 = int(np.floor(up[0, 0] - _PAST_CORNERS * eye_d))
    xs = np.arange(x0, int(np.ceil(up[-1, 0] + _PAST_CORNERS * eye_d)) + 1, dtype=np.float64)
    line = np.interp(xs, up[:, 0], up[:, 1])
    # The mesh's lower lid line sits a little inside the visible margin: close a little past it,
    # except at the corners, where the lids meet.
    u = np.clip(np.abs(xs - (up[0, 0] + up[-1, 0]) / 2) / max(0.5 * (up[-1, 0] - up[0, 0]), 1.0), 0, 1)
    floor = np.interp(xs, low[:, 0], low[:, 1]) + 0.045 * eye_d * np.sqrt(1 - u * u)
    # The lid's own skin up to a little under the brow is what slides down over the eye (never the
    # brow's hair), at least the thin band just above the lashes.
    brow = lm[_BROW_LOWER[0] if list(eye[0]) == list(L.RIGHT_EYE_UPPER) else _BROW_LOWER[1]]
    brow = brow[np.argsort(brow[:, 0])]
    under_brow = np.interp(xs, brow[:, 0], brow[:, 1]) + _BELOW_BROW * eye_d
    crease = np.maximum(line - (LASHES + _LID_SKIN) * eye_d, under_brow)
    crease = np.minimum(crease, line - (LASHES + _SKIN_BAND) * eye_d)
    return Lid(x0, line, np.clip(floor - line, 0, None), crease)


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


_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _spread(values: np.ndarray) -> float:
    """Robust standard deviation (from the median absolute deviation)."""
    return 1.4826 * float(np.median(np.abs(values - np.median(values)))) + 1e-6


class LidPainter:
    """Paints the closing upper lids with skin made from the portrait; built once per avatar.

    Per eye, once: the colour of the lid's skin per column (the lit skin between the lashes and the
    brow, smoothed from skin pixels only: brows, lashes, frames and glints do not count), the fine
    texture of the skin just under the eye (its detail relative to its own shading) and the colour
    of the lash line. Per frame: the lid between the resting lash line and the moving one is that
    skin, shaded over the eyeball (lightest under the brow, darker towards the lash line and the
    corners), with the texture riding on the lid's margin, a thin dark lash line at the margin and
    an upper edge that fades into the skin above it, tapering into the eye's corners.
    """

    def __init__(self, portrait: np.ndarray, landmarks: np.ndarray, eye_d: float) -> None:
        lm = landmarks[:, :2].astype(np.float64)
        self.eye_d = eye_d
        self.lids = [lid(lm, eye_d, eye) for eye in EYES]
        rgb = portrait.astype(np.float32)
        light = rgb @ _LUMA
        # Not skin: the eye openings grown upwards over the lashes and a little all around.
        opening = np.zeros(light.shape, np.uint8)
        for eye in (L.RIGHT_EYE, L.LEFT_EYE):
            cv2.fillPoly(opening, [np.round(lm[eye]).astype(np.int32)], 1)
        grow, up = max(1, round(0.02 * eye_d)), max(1, round((LASHES + 0.01) * eye_d))
        kernel = np.zeros((2 * up + 1, 2 * grow + 1), np.uint8)
        kernel[up - grow:] = 1  # (a pixel joins when the opening is at most `up` rows below it)
        self._not_skin = cv2.dilate(opening, kernel).astype(bool)
        brows = np.zeros(light.shape, np.uint8)
        for brow in (L.RIGHT_BROW, L.LEFT_BROW):
            cv2.fillPoly(brows, [cv2.convexHull(np.round(lm[brow]).astype(np.int32))], 1)
        self._brows = cv2.dilate(brows, np.ones((3, 3), np.uint8), iterations=max(1, round(0.02 * eye_d))) > 0
        """Where the brows may be: their hair (what is darker there than the skin) is not lid skin."""
        self.skins = [self._skin(rgb, light, one) for one in self.lids]
        self.lashes = [self._lashes(rgb, light, one, skin) for one, skin in zip(self.lids, self.skins, strict=True)]
        self.lash_tops = [self._lash_top(light, one, skin) for one, skin in zip(self.lids, self.skins, strict=True)]
        self.grain = [self._grain(rgb, one) for one in self.lids]

    def _skin(self, rgb: np.ndarray, light: np.ndarray, one: Lid) -> np.ndarray:
        """(columns, 3) colour of the skin a lid is made of."""
        e, (h, w) = self.eye_d, light.shape
        m = int(np.ceil(0.35 * e))
        wx0, wx1 = max(0, one.x0 - m), min(w, one.x1 + m)
        wy0 = max(0, int((one.lid - (LASHES + 0.16) * e).min()) - m)
        wy1 = min(h, int((one.lid + one.gap).max()) + m)
        patch, lit = rgb[wy0:wy1, wx0:wx1], light[wy0:wy1, wx0:wx1]
        outside = ~self._not_skin[wy0:wy1, wx0:wx1]
        # Skin: not brow hair, lashes or frames (darker than what is around them), nor glints
        # (lighter); behind dark glasses the lens's own shade is the skin's.
        near = 0.12 * e
        level = cv2.GaussianBlur(lit * outside, (0, 0), near) / np.maximum(
            cv2.GaussianBlur(outside.astype(np.float32), (0, 0), near), 1e-3)
        level = np.maximum(level, 1.0)
        hair = self._brows[wy0:wy1, wx0:wx1] & (lit < 0.85 * level)
        weight = (outside & ~hair) * _smooth((lit - 0.4 * level) / (0.2 * level))
        weight = (weight * (1 - _smooth((lit - 1.55 * level) / (0.15 * level)))).astype(np.float32)
        if not (weight > 0.5).any():
            return np.repeat(patch.reshape(-1, 3).mean(axis=0)[None], len(one.lid), axis=0).astype(np.float32)
        # A normalized convolution (a blur of the skin pixels only); far from any skin pixel the
        # wider surroundings decide.
        sigma = max(1.5, 0.045 * e)
        norm = cv2.GaussianBlur(weight, (0, 0), sigma)
        field = cv2.GaussianBlur(patch * weight[..., None], (0, 0), sigma) / np.maximum(norm, 1e-4)[..., None]
        wide = cv2.GaussianBlur(weight, (0, 0), 3 * sigma)
        far = cv2.GaussianBlur(patch * weight[..., None], (0, 0), 3 * sigma) / np.maximum(wide, 1e-4)[..., None]
        trust = np.clip(norm / 0.15, 0, 1)[..., None]
        field = field * trust + far * (1 - trust)
        # Per column, the lit skin above the lash line (not the crease's shadow, which opens out as
        # the lid closes): the lighter part of the column between the lashes and the brow.
        cols = np.clip(one.x0 + np.arange(len(one.lid)) - wx0, 0, wx1 - wx0 - 1)
        reach = np.arange(round((LASHES + 0.16) * e), round(LASHES * e) - 1, -1)
        rows = np.clip(np.round(one.lid).astype(int)[None] - reach[:, None] - wy0, 0, wy1 - wy0 - 1)
        column = field[rows, cols[None]]  # (reach, columns, 3)
        pick = np.argsort(column @ _LUMA, axis=0)[int(0.75 * (len(reach) - 1))]
        colour = column[pick, np.arange(len(cols))]
        return cv2.GaussianBlur(colour[None], (0, 0), max(1.0, 0.06 * e))[0].astype(np.float32)

    def _lashes(self, rgb, light, one: Lid, skin: np.ndarray) -> np.ndarray:
        """Lash line colour per column: the darkest pixels along the lid's margin, and at most half
        as light as the lid's skin (fine, light lashes would read as a grey seam)."""
        e, (h, w) = self.eye_d, light.shape
        reach = max(1, round(0.03 * e))
        out = np.zeros((len(one.lid), 3), np.float32)
        for i in range(len(one.lid)):
            xa, xb = max(0, one.x0 + i - reach), min(w, one.x0 + i + reach + 1)
            ya = int(np.clip(round(one.lid[i] - 0.02 * e), 0, h - 1))
            yb = int(np.clip(round(one.lid[i] + 0.02 * e) + 1, ya + 1, h))
            values = light[ya:yb, xa:xb].ravel()
            if not len(values):
                out[i] = out[i - 1] if i else 60
                continue
            keep = values <= np.percentile(values, 25)
            out[i] = rgb[ya:yb, xa:xb].reshape(-1, 3)[keep].mean(axis=0)
        out = cv2.GaussianBlur(out[None], (0, 0), max(1.0, 0.03 * e))[0]
        darker = np.minimum(1.0, 0.45 * (skin @ _LUMA) / np.maximum(out @ _LUMA, 1.0))
        return (out * darker[:, None]).astype(np.float32)

    def _lash_top(self, light: np.ndarray, one: Lid, skin: np.ndarray) -> np.ndarray:
        """Per column, how far above the lid's margin its lashes (and liner) reach (pixels): the lid
        covers them all, however thick, so no dark fringe is left above it."""
        e, w = self.eye_d, light.shape[1]
        smooth = cv2.GaussianBlur(light, (0, 0), 1.0)
        level = skin @ _LUMA
        lowest, highest = round(LASHES * e), round(0.12 * e)
        out = np.full(len(one.lid), float(lowest), np.float32)
        for i, (x, margin) in enumerate(zip(one.x0 + np.arange(len(one.lid)), one.lid, strict=True)):
            if not 0 <= x < w:
                continue
            for k in range(lowest, highest + 1):
                y = round(float(margin)) - k
                if y < 0 or smooth[y, x] > 0.8 * level[i]:
                    break
                out[i] = k + 1
        return cv2.GaussianBlur(out[None], (0, 0), max(1.0, 0.04 * e))[0]

    def _grain(self, rgb, one: Lid) -> np.ndarray:
        """Skin texture for the lid, relative to the skin's colour (rows up from the lid's margin,
        columns, 3): the portrait's own skin under the eye mirrored about the closed lids' line (its
        fine lines then curve with the upper lid), without its shading."""
        e, (h, w) = self.eye_d, rgb.shape[:2]
        rows = int(np.ceil(one.gap.max() + (LASHES + _TOP) * e)) + 4
        start = np.round(one.lid + one.gap + 0.03 * e).astype(int)
        ys = np.clip(start[None] + np.arange(rows)[:, None], 0, h - 1)
        xs = np.clip(one.x0 + np.arange(len(one.lid)), 0, w - 1)[None]
        patch = rgb[ys, xs]
        smooth = cv2.GaussianBlur(patch, (0, 0), max(1.5, 0.025 * e))
        grain = (patch - smooth) / np.maximum(smooth, 1.0)
        # No band across the whole lid (a deep line under the eye): the lid's light comes from its
        # shading, the texture only adds the skin's local grain.
        grain -= grain.mean(axis=1, keepdims=True)
        # As strong as the portrait's own skin there, up to a limit (very wrinkled skin under an old
        # eye is not what a lid looks like); deep lines and stray lashes are limited softly.
        typical = _spread(grain @ _LUMA)
        scale = self._texture_above(rgb, one) / typical
        limit = 2.5 * scale * typical
        return (limit * np.tanh(scale * grain / limit)).astype(np.float32)

    def _texture_above(self, rgb: np.ndarray, one: Lid) -> float:
        """How grainy the lid's own skin is (relative robust spread of its fine detail): the skin
        between the lashes and the brow over the middle of the eye, brow hair, lashes and frames
        left out, so a closed lid is as textured as the skin just above it (never flatter)."""
        e, w = self.eye_d, rgb.shape[1]
        y0, y1 = int(max(0, (one.lid - (LASHES + 0.16) * e).min())), int(max(1, one.lid.min() - LASHES * e))
        n = len(one.lid)
        x0, x1 = max(0, one.x0 + n // 4), min(w, one.x0 + 3 * n // 4)
        patch = rgb[y0:y1, x0:x1]
        if patch.shape[0] < 3 or patch.shape[1] < 3:
            return _GRAIN
        smooth = cv2.GaussianBlur(patch, (0, 0), max(1.5, 0.025 * e))
        detail = ((patch - smooth) / np.maximum(smooth, 1.0)) @ _LUMA
        skin = ~(self._not_skin | self._brows)[y0:y1, x0:x1]
        if skin.sum() < 12:
            return _GRAIN
        return float(np.clip(_spread(detail[skin]), 0.5 * _GRAIN, 2 * _GRAIN))

    def paint(self, frame: np.ndarray, closing, shifts) -> None:
        """Paint both upper lids in place; closing amounts and (dx, dy) head shifts per eye."""
        h, w = frame.shape[:2]
        e = self.eye_d
        lash_w = max(1.3, 0.02 * e)
        for one, skin, lash, lash_top, grain, amount, (dx, dy) in zip(self.lids, self.skins, self.lashes,
                                                                        self.lash_tops, self.grain, closing, shifts,
                                                                        strict=True):
            if amount < 0.02:
                continue
            # The lid reaches above the resting lash line, least at the corners (it tapers into
            # them rather than ending in a cap). u: -1 and 1 at the eye's corners.
            half = max(0.5 * (len(one.lid) - 1) - _PAST_CORNERS * e, 1.0)
            u = (np.arange(len(one.lid), dtype=np.float32) - 0.5 * (len(one.lid) - 1)) / half
            round_ = np.sqrt(np.clip(1 - u * u, 0, 1))
            opaque = lash_top * (0.15 + 0.85 * round_)  # (covering the resting lashes)
            reach = opaque + _TOP * e * (0.3 + 0.7 * round_)
            top = one.lid - reach + dy
            margin = one.lid + dy
            edge = margin + amount * one.gap  # the lash line's lower edge
            x0, x1 = max(0, one.x0 + dx), min(w, one.x1 + dx)
            y0, y1 = max(0, int(top.min()) - 1), min(h, int(np.ceil(edge.max())) + 2)
            if x1 - x0 < 2 or y1 - y0 < 2:
                continue
            cols = slice(x0 - one.x0 - dx, x1 - one.x0 - dx)
            top, margin, edge, reach, opaque = top[cols], margin[cols], edge[cols], reach[cols], opaque[cols]
            u, round_ = u[cols], round_[cols]
            yy = np.arange(y0, y1, dtype=np.float32)[:, None]
            region = frame[y0:y1, x0:x1]
            rgb = region.astype(np.float32)
            # The warp has slid the lid's own skin down over the eye; here only its light is set:
            # the fold's shadow it carries is lifted to the lid's lit skin, the lid rounds over the
            # eyeball (lightest high in its middle, darker towards the lash line, t: 0 at the
            # resting margin, 1 at the moving one, and the corners), its texture and colour stay.
            t = np.clip((yy - margin) / np.maximum(edge - margin, 1.0), 0, 1)
            shade = 1.0 + 0.03 * (1 - u * u) - 0.3 * t ** 1.5 - 0.07 * u ** 4
            near = max(1.5, 0.025 * e)
            low = cv2.GaussianBlur(rgb, (0, 0), near)
            # The lid's colour is its lit skin (per column, shaded); its texture the warped skin's
            # own detail relative to its local colour (so a fold's shadow is not carried down).
            detail = np.clip(rgb / np.maximum(low, 1.0), 0.75, 1.3)
            lidded = skin[cols][None] * shade[..., None] * detail
            ramp = np.maximum(1.5, reach - opaque)
            alpha = _smooth((yy - top) / ramp) * _smooth((edge + 0.5 - yy) / 1.2) * min(1.0, amount / 0.12)
            alpha *= _smooth((1 - np.abs(u)) / 0.3) * (edge > top + 0.5)
            # Stretched down, the skin's fine grain would become vertical streaks: those are softened
            # across and the skin's own grain (from under the eye, unstretched) laid back on.
            soft = cv2.GaussianBlur(rgb, (0, 0), sigmaX=1.0, sigmaY=0.1)
            stretch = (alpha * _smooth((yy - margin + lash_top[cols]) / 2.0))[..., None]
            rgb += (soft - rgb) * stretch
            r = np.clip(np.round(edge - yy).astype(int), 0, len(grain) - 1)
            texture = np.take_along_axis(grain[:, cols], r[..., None], axis=0)
            lidded = lidded * (1 + 0.8 * texture * stretch)
            rgb += (lidded - rgb) * alpha[..., None]
            # The lash line at the moving margin: thickest in the middle, thinning to the corners.
            thick = lash_w * (0.55 + 0.45 * round_)
            ink = np.exp(-0.5 * ((yy - (edge - 0.5 * thick)) / np.maximum(0.5 * thick, 0.6)) ** 2)
            ink *= 0.6 * min(1.0, amount / 0.3) * _smooth((1 - np.abs(u)) / 0.3)
            rgb += (lash[cols][None] - rgb) * ink[..., None]
            region[:] = (rgb + 0.5).clip(0, 255).astype(np.uint8)


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
