"""The mouth interior painted where the lips part: cavity, tongue, upper and lower teeth.

Teeth are built once per avatar as profiles across the mouth (where each tooth is, how long it
shows below the lip line, how bright it is) and placed per frame: the upper row hangs from the
upper jaw (it moves with the head only, so it stays under the upper lip as the jaw drops), the
lower row rides on the jaw and shows at wide vowels. A portrait that shows its own teeth keeps
them (the lips part below them) and gets only a lower row. Colours come from the portrait: its
teeth when it shows them, else its eye whites and skin; the cavity and the tongue from its lips.
"""

from __future__ import annotations

import cv2
import numpy as np

from runtime.face import landmarks as L

_UPPER_WIDTHS = (0.15, 0.115, 0.09, 0.075, 0.065, 0.06)
"""Apparent widths of the upper teeth from the middle outwards (fractions of the mouth width)."""
_LOWER_WIDTHS = (0.085, 0.09, 0.085, 0.075, 0.065, 0.06)
_UPPER_SHOW = 0.085
"""How far the upper incisors reach below the line where the lips part (mouth widths)."""
_LOWER_SHOW = 0.045
_EDGE_PX = 1.1
"""Feather of the cavity's outline (pixels, Gaussian sigma): a soft lip edge, never a hard step."""


def _smooth(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def _tooth_row(xs: np.ndarray, centre: float, mw: float, widths, show: float,
               corner: float) -> tuple[np.ndarray, np.ndarray]:
    """Per column: how far the row shows beyond its line (pixels) and its brightness (0..1)."""
    bounds = np.cumsum((0.0, *widths)) * mw
    off = np.abs(xs - centre)
    index = np.clip(np.searchsorted(bounds, off, side="right") - 1, 0, len(widths) - 1)
    left, width = bounds[index], np.diff(bounds)[index]
    pos = np.clip((off - left) / width, 0, 1)  # 0..1 across one tooth
    to_gap = np.minimum(pos, 1 - pos) * width  # pixels to the nearest gap between teeth
    u = off / (0.5 * mw)
    # Real rows are not ruler-straight: each tooth a little longer or shorter (fixed per side).
    jitter = np.array([1.0, 0.93, 0.97, 0.9, 0.92, 0.9])[index] * np.where(xs < centre, 1.0, 0.985)
    length = show * mw * jitter * (1.0 - 0.25 * np.clip(u, 0, 1.2) ** 2)
    corner *= mw  # rounded tooth corners: small notches at every gap
    length -= corner * (1 - np.sqrt(np.clip(1 - (1 - np.clip(to_gap / corner, 0, 1)) ** 2, 0, 1)))
    # A faint gap between teeth (never an outline darker than that).
    tone = (0.94 + 0.06 * np.sin(np.pi * pos)) * (1 - 0.1 * np.exp(-((to_gap / 0.8) ** 2)))
    tone *= np.clip(1.0 - 0.7 * u ** 2, 0.2, 1)  # teeth further back are in the mouth's shade
    return np.clip(length, 0, None).astype(np.float32), tone.astype(np.float32)


class MouthPainter:
    """Paints one avatar's mouth interior; built once per avatar."""

    def __init__(self, portrait: np.ndarray, landmarks: np.ndarray, mouth_width: float, split: np.ndarray,
                 shows_teeth: bool) -> None:
        self.mw, self.shows_teeth = mouth_width, shows_teeth
        lm = landmarks[:, :2]
        self.own_lower_teeth = shows_teeth and _teeth_below(portrait, split, lm)
        """The portrait shows its lower teeth too: they ride on the jaw with the lower lip."""
        self.dark_matte = _dark_matte(portrait, lm) if shows_teeth else None
        self._dark_box = None
        if self.dark_matte is not None and (self.dark_matte > 0.01).any():
            ys, xs = np.nonzero(self.dark_matte > 0.01)
            self._dark_box = (int(xs.min()) - 3, int(ys.min()) - 3, int(xs.max()) + 4, int(ys.max()) + 4)
        """The portrait's dark mouth interior (0..1: the corners beside its teeth, the gaps between
        their tips), warped with the face each frame: the cavity takes it over as the mouth opens,
        so the opening follows the teeth's own edges and reaches into the corners."""
        lip = _mean_in(portrait, lm[L.LIPS_LOWER_OUTER], np.array([150, 70, 70], np.float32))
        self.cavity = lip * np.array([0.34, 0.15, 0.14], np.float32)
        self.tongue = lip * np.array([0.68, 0.42, 0.42], np.float32)
        self.teeth = teeth_colour(portrait, lm, shows_teeth)
        xs = np.arange(portrait.shape[1], dtype=np.float32)
        centre = float((lm[61, 0] + lm[291, 0]) / 2)
        self.upper_len, self.upper_tone = _tooth_row(xs, centre, mouth_width, _UPPER_WIDTHS, _UPPER_SHOW, 0.012)
        self.lower_len, self.lower_tone = _tooth_row(xs, centre, mouth_width, _LOWER_WIDTHS, _LOWER_SHOW, 0.012)

    def paint(self, frame: np.ndarray, rest: np.ndarray, top: np.ndarray, bottom: np.ndarray,
              upper_dx: float, upper_dy: float, warp: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Fill the gap between `top` and `bottom` (the parted lips, (n, 2) left to right) in place.

        `rest` is the parting line at rest; the upper jaw has moved by (upper_dx, upper_dy); `warp`
        is the frame's backward map (x, y), which carries the portrait's own teeth.
        """
        lifted = top - rest  # how the upper lip moved along the parting line
        top, bottom = _taper(top, bottom)
        opening = float((bottom[:, 1] - top[:, 1]).max())
        if opening < 0.6:
            return
        poly = np.concatenate([top, bottom[::-1]])
        h, w = frame.shape[:2]
        x0, y0 = np.maximum(np.floor(poly.min(axis=0)).astype(int) - 4, 0)
        x1, y1 = np.minimum(np.ceil(poly.max(axis=0)).astype(int) + 5, (w, h))
        if x1 - x0 < 3 or y1 - y0 < 3:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round((poly - [x0, y0]) * 4).astype(np.int32)], 255, cv2.LINE_AA, shift=2)
        alpha = cv2.GaussianBlur(mask, (0, 0), _EDGE_PX).astype(np.float32) / 255.0
        alpha *= min(1.0, (opening - 0.6) / 3.0)  # a hairline gap fades in, never a black line
        if self.dark_matte is not None and warp is not None:
            # Grow the box to the whole mouth: the dark corners at rest turn into the cavity too.
            lips = np.concatenate([top, bottom])
            ux, uy = round(upper_dx), round(upper_dy)
            (x0, y0), (x1, y1) = np.floor(lips.min(axis=0)).astype(int) - 6, np.ceil(lips.max(axis=0)).astype(int) + 7
            if self._dark_box is not None:
                bx0, by0, bx1, by1 = self._dark_box
                x0, y0, x1, y1 = min(x0, bx0 + ux), min(y0, by0 + uy), max(x1, bx1 + ux), max(y1, by1 + uy)
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
            mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
            cv2.fillPoly(mask, [np.round((poly - [x0, y0]) * 4).astype(np.int32)], 255, cv2.LINE_AA, shift=2)
            alpha = cv2.GaussianBlur(mask, (0, 0), _EDGE_PX).astype(np.float32) / 255.0
            alpha *= min(1.0, (opening - 0.6) / 3.0)
            mx, my = warp[0][y0:y1, x0:x1], warp[1][y0:y1, x0:x1]
            dark = cv2.remap(self.dark_matte, mx, my, cv2.INTER_LINEAR)
            # Where the corners were dark (with the upper jaw) stays open: the stretching lip
            # corners never slide in over them as light wedges.
            xs = np.arange(x0, x1, dtype=np.float32)
            hx = (xs - np.interp(xs, rest[:, 0], lifted[:, 0]))[None].repeat(y1 - y0, axis=0).astype(np.float32)
            hy = np.arange(y0, y1, dtype=np.float32)[:, None] - np.interp(xs, rest[:, 0], lifted[:, 1])[None]
            dark = np.maximum(dark, cv2.remap(self.dark_matte, hx, hy.astype(np.float32), cv2.INTER_LINEAR))
            alpha = np.maximum(alpha, dark * min(1.0, opening / (0.08 * self.mw)))[..., None]
        else:
            alpha = alpha[..., None]
        inside = self._interior(rest, top, bottom, opening, (x0, y0, x1, y1), (upper_dx, upper_dy))
        region = frame[y0:y1, x0:x1]
        region[:] = (region * (1 - alpha) + inside * alpha + 0.5).astype(np.uint8)

    def _interior(self, rest, top, bottom, opening, box, upper_shift) -> np.ndarray:
        x0, y0, x1, y1 = box
        xs = np.arange(x0, x1, dtype=np.float32)
        yy = np.arange(y0, y1, dtype=np.float32)[:, None]
        upper = np.interp(xs, top[:, 0], top[:, 1])
        lower = np.interp(xs, bottom[:, 0], bottom[:, 1])
        gap = np.maximum(lower - upper, 1.0)
        depth = np.clip((yy - upper) / gap, 0, 1)
        left, right = top[0, 0], top[-1, 0]
        across = np.clip(np.abs(xs - (left + right) / 2) / max(0.5 * (right - left), 1.0), 0, 1)
        # Dark at the lips, darker towards the back of the mouth and its corners.
        shade = (0.35 + 0.65 * (2 * np.abs(depth - 0.5)) ** 1.5) * (1 - 0.5 * across ** 2)
        out = self.cavity * shade[..., None] * (0.7 + 0.3 * _smooth((lower - yy) / 2.5))[..., None]
        out = self._tongue(out, yy, xs, lower, gap, across, opening)
        if not self.own_lower_teeth:
            out = self._lower_teeth(out, yy, xs, lower, across, opening)
        if not self.shows_teeth:
            out = self._upper_teeth(out, yy, xs, rest, upper_shift, across)
        # The lips shade the inside just past their edges (more under the upper lip).
        lip_shadow = 0.45 + 0.55 * _smooth((yy - upper) / 3.5)
        return out * lip_shadow[..., None]

    def _tongue(self, out, yy, xs, lower, gap, across, opening):
        """The tongue's back rises from the floor of the mouth; seen when the mouth is well open."""
        crest = lower - gap * (0.38 - 0.2 * across ** 2)
        amount = _smooth((yy - crest) / 2.5) * _smooth((0.8 - across) / 0.3) * _smooth(opening / (0.25 * self.mw))
        tone = 0.55 + 0.45 * _smooth((yy - crest) / np.maximum(0.5 * (lower - crest), 1.0))
        tongue = self.tongue * tone[..., None]
        return out + (tongue - out) * amount[..., None]

    def _lower_teeth(self, out, yy, xs, lower, across, opening):
        """Lower incisors just inside the lower lip, showing as the jaw opens wide."""
        show = _smooth((opening - 0.12 * self.mw) / (0.2 * self.mw))
        if show <= 0:
            return out
        length = np.interp(xs, np.arange(len(self.lower_len)), self.lower_len) * show
        tone = np.interp(xs, np.arange(len(self.lower_tone)), self.lower_tone)
        edge = lower - length
        amount = _smooth((yy - edge) / 1.2) * _smooth((0.75 - across) / 0.25)
        teeth = self.teeth * 0.85 * (tone * (0.85 + 0.15 * _smooth((yy - edge) / 3.0)))[..., None]
        return out + (teeth - out) * amount[..., None]

    def _upper_teeth(self, out, yy, xs, rest, shift, across):
        """Upper teeth fixed to the upper jaw: their edge hangs below the resting lip line."""
        dx, dy = shift
        grid = np.arange(len(self.upper_len), dtype=np.float32)
        length = np.interp(xs - dx, grid, self.upper_len)
        tone = np.interp(xs - dx, grid, self.upper_tone)
        edge = np.interp(xs - dx, rest[:, 0], rest[:, 1]) + dy + length
        amount = _smooth((edge - yy) / 1.2) * _smooth((0.95 - across) / 0.3)
        # Slightly translucent at the biting edge, shaded under the upper lip.
        tone = tone * (1 - 0.06 * _smooth(1 - (edge - yy) / 2.5))
        teeth = self.teeth * tone[..., None]
        return out + (teeth - out) * amount[..., None]


def _teeth_mask(portrait: np.ndarray) -> np.ndarray:
    """Pixels that look like teeth: light, and not red like lips, gums or tongue."""
    rgb = portrait.astype(np.float32)
    light = _luma(rgb)
    return (light > 0.8 * np.percentile(light, 97)) & (rgb[..., 0] - rgb[..., 1] < 0.22 * rgb[..., 0] + 8)


def _dark_matte(portrait: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Soft matte (0..1, portrait-sized) of the dark interior between the lips (not teeth, not gums)."""
    inner = cv2.fillPoly(np.zeros(portrait.shape[:2], np.uint8), [lm[L.INNER_MOUTH].round().astype(np.int32)], 1)
    inner = cv2.dilate(inner, np.ones((3, 3), np.uint8)).astype(bool)
    light = _luma(portrait.astype(np.float32))
    teeth = _teeth_mask(portrait) & inner
    level = float(np.percentile(light[teeth], 60)) if teeth.sum() > 20 else 200.0
    dark = np.clip((0.5 * level - light) / (0.2 * level), 0, 1) * inner
    return cv2.GaussianBlur(dark.astype(np.float32), (0, 0), 0.7).clip(0, 1)


def parting_line(portrait: np.ndarray, landmarks: np.ndarray, open_at_rest: bool) -> np.ndarray:
    """Where the lips part, (n, 2) left to right: between closed lips, or just below shown upper teeth."""
    lm = landmarks[:, :2].astype(np.float32)
    upper, lower = lm[L.LIPS_UPPER_INNER], lm[list(reversed(L.LIPS_LOWER_INNER))]
    line = (upper + lower) / 2
    if not open_at_rest:
        return line
    x0, y0 = np.floor(upper.min(axis=0)).astype(int)
    x1, y1 = np.ceil(lower.max(axis=0)).astype(int) + 1
    teeth = _teeth_mask(portrait[y0:y1, x0:x1])
    found = []
    for (x, top), (_, bottom) in zip(upper, lower, strict=True):
        column = teeth[int(top) - y0:int(bottom) - y0 + 1, int(x + 0.5) - x0]
        rows = np.flatnonzero(column)
        if len(rows) and rows[0] < 0.5 * len(column):  # a run of teeth hanging from the upper lip
            breaks = np.flatnonzero(np.diff(rows) > 2)
            found.append((x, int(top) + (rows[breaks[0]] if len(breaks) else rows[-1]) + 1.5))
    if len(found) < 4:
        return lower
    # The teeth's edge is a smooth arc: fit one, so a stray pixel never notches the line.
    fx, fy = np.array(found).T
    fit = np.polyfit(fx, fy, 2)
    # Below (nearly) every tooth's tip: the lips part under the teeth, never through one.
    arc = np.polyval(fit, upper[:, 0]) + max(0.0, float(np.percentile(fy - np.polyval(fit, fx), 90)))
    line = lower.copy()
    line[:, 1] = np.clip(arc, np.minimum(upper[:, 1] + 1, lower[:, 1]), lower[:, 1])
    return line


def _teeth_below(portrait: np.ndarray, split: np.ndarray, lm: np.ndarray) -> bool:
    """Whether teeth show between the parting line and the lower lip."""
    lower = lm[list(reversed(L.LIPS_LOWER_INNER))]
    poly = np.concatenate([split, lower[::-1]]).round().astype(np.int32)
    mask = cv2.fillPoly(np.zeros(portrait.shape[:2], np.uint8), [poly], 1).astype(bool)
    return bool(mask.sum() > 20 and (_teeth_mask(portrait) & mask).sum() > 0.15 * mask.sum())


def _taper(top: np.ndarray, bottom: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The lips meet at the corners: the opening narrows to nothing at both ends."""
    mid, half = (top + bottom) / 2, (bottom - top) / 2
    x = mid[:, 0]
    u = np.abs(x - (x[0] + x[-1]) / 2) / max(0.5 * (x[-1] - x[0]), 1.0)
    keep = np.sqrt(np.clip(1 - u ** 3, 0, 1))[:, None]
    return mid - half * keep, mid + half * keep


def _mean_in(image: np.ndarray, polygon: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    mask = cv2.fillPoly(np.zeros(image.shape[:2], np.uint8), [polygon.round().astype(np.int32)], 1).astype(bool)
    return image[mask].mean(axis=0).astype(np.float32) if mask.sum() > 10 else fallback


def teeth_colour(portrait: np.ndarray, lm: np.ndarray, shows_teeth: bool) -> np.ndarray:
    """Teeth colour from the portrait: its own teeth if shown, else its eye whites and skin light."""
    if shows_teeth:
        pixels = _pixels_in(portrait, lm[L.INNER_MOUTH])
        if len(pixels) > 20:
            light = _luma(pixels)
            return np.median(pixels[light >= np.percentile(light, 70)], axis=0).astype(np.float32)
    ivory = np.array([238, 230, 214], np.float32)
    skin = _skin(portrait, lm)
    skin_light = float(np.percentile(_luma(skin), 90)) if len(skin) > 20 else 170.0
    if len(skin) > 20:  # the photo's light and white balance: a little of the skin's hue
        tint = skin.mean(axis=0) / max(float(skin.mean()), 1.0)
        ivory = ivory * (0.8 + 0.2 * tint)
    whites = np.concatenate([_pixels_in(portrait, lm[eye]) for eye in (L.RIGHT_EYE, L.LEFT_EYE)])
    level = min(235.0, max(120.0, 1.15 * skin_light))
    if len(whites) > 20:
        light = _luma(whites)
        sclera = np.median(whites[light >= np.percentile(light, 80)], axis=0).astype(np.float32)
        if _luma(sclera) > 0.8 * skin_light:  # real eye whites (not sunglasses, not closed eyes)
            level = min(level, 0.5 * (level + float(_luma(sclera))))
            tint = sclera / max(float(sclera.mean()), 1.0)
            ivory = ivory * (0.6 + 0.4 * tint)
    # Teeth in a mouth are in its shade: a little darker and warmer than eye whites in the open.
    ivory = ivory * np.array([1.0, 0.96, 0.88], np.float32)
    return (ivory * 0.85 * level / float(_luma(ivory))).clip(0, 255).astype(np.float32)


def _skin(image: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Pixels of both cheeks and the forehead."""
    r = max(2, int(0.04 * np.linalg.norm(lm[33] - lm[263])))
    patches = [image[int(y) - r:int(y) + r, int(x) - r:int(x) + r].reshape(-1, 3) for x, y in lm[[50, 280, 151]]]
    return np.concatenate(patches).astype(np.float32)


def _pixels_in(image: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    mask = cv2.fillPoly(np.zeros(image.shape[:2], np.uint8), [polygon.round().astype(np.int32)], 1)
    return image[mask.astype(bool)].astype(np.float32)
