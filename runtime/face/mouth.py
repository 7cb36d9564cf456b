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
from runtime.face.rig import mouth_open

_UPPER_WIDTHS = (0.15, 0.115, 0.09, 0.075, 0.065, 0.06)
"""Apparent widths of the upper teeth from the middle outwards (fractions of the mouth width)."""
_LOWER_WIDTHS = (0.085, 0.09, 0.085, 0.075, 0.065, 0.06)
_UPPER_SHOW = 0.085
"""How far the upper incisors reach below the line where the lips part (mouth widths)."""
_LOWER_SHOW = 0.045
OPENING = [61, *L.LIPS_UPPER_INNER[1:-1], 291, *L.LIPS_LOWER_INNER[1:-1]]
"""Mesh points around the lips' opening out to the mouth's corners (the dark corners of a smile
reach past the inner lip corners)."""
_EDGE_PX = 1.1
"""Feather of the cavity's outline (pixels, Gaussian sigma): a soft lip edge, never a hard step."""


def _smooth(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


def _tooth_row(xs: np.ndarray, centre: float, mw: float, widths, show: float, corner: float) -> tuple:
    """Per column: how far the row shows beyond its line (pixels), its brightness (0..1), how much
    warmer than the front teeth it is (0..1) and how close to a gap between two teeth (1 at it)."""
    bounds = np.cumsum((0.0, *widths)) * mw
    off = np.abs(xs - centre)
    index = np.clip(np.searchsorted(bounds, off, side="right") - 1, 0, len(widths) - 1)
    left, width = bounds[index], np.diff(bounds)[index]
    pos = np.clip((off - left) / width, 0, 1)  # 0..1 across one tooth
    to_gap = np.minimum(pos, 1 - pos) * width  # pixels to the nearest gap between teeth
    u = off / (0.5 * mw)
    # Real rows are not ruler-straight: each tooth a little longer or shorter, lighter or darker
    # (fixed per side); canines and the teeth behind them a little warmer.
    side = np.where(xs < centre, 0, 1)
    jitter = np.array([1.0, 0.93, 0.97, 0.9, 0.92, 0.9])[index] * np.where(side == 0, 1.0, 0.985)
    length = show * mw * jitter * (1.0 - 0.4 * np.clip(u, 0, 1.2) ** 2)  # the row curves up to the sides
    corner *= mw  # rounded tooth corners: small notches at every gap
    length -= corner * (1 - np.sqrt(np.clip(1 - (1 - np.clip(to_gap / corner, 0, 1)) ** 2, 0, 1)))
    light = np.array([[1.0, 0.97, 0.95, 0.96, 0.94, 0.95], [0.98, 0.99, 0.94, 0.95, 0.95, 0.93]])[side, index]
    # Each tooth rounds away from the light at its sides; teeth further back are in the mouth's shade.
    tone = light * (0.93 + 0.07 * np.sin(np.pi * pos)) * np.clip(1.0 - 0.6 * u ** 2, 0.25, 1)
    warm = np.array([0.0, 0.15, 0.6, 0.5, 0.5, 0.5])[index]
    gap = np.exp(-((to_gap / 0.8) ** 2))  # where the teeth meet (a faint line, never an outline)
    return tuple(np.asarray(a, np.float32) for a in (np.clip(length, 0, None), tone, warm, gap))


class MouthPainter:
    """Paints one avatar's mouth interior; built once per avatar."""

    def __init__(self, portrait: np.ndarray, landmarks: np.ndarray, mouth_width: float, split: np.ndarray,
                 shows_teeth: bool) -> None:
        self.mw, self.shows_teeth = mouth_width, shows_teeth
        lm = landmarks[:, :2]
        teeth = _teeth_mask(portrait, lm)
        self.own_lower_teeth = shows_teeth and _teeth_below(teeth, split, lm)
        """The portrait shows its lower teeth too: they ride on the jaw with the lower lip."""
        self._inside = None
        if shows_teeth:
            self._inside = _interior_and_lips(portrait, lm, teeth, mouth_width)
        self._opening = lm[OPENING].astype(np.float32)
        """An open mouth's own dark interior (the corners beside its teeth), as (box, matte, lip
        colour): where the jaw's opening stretches it outside the painted opening (below the lip
        corners), it becomes the lips' colour, so the cavity stays inside the lips."""
        lip = _mean_in(portrait, lm[L.LIPS_LOWER_OUTER], np.array([150, 70, 70], np.float32))
        # The inside of the mouth is the lips' red in shade, as dark as the photo's light makes it
        # (on a dim photo it is not a black hole, on a bright one not grey).
        # Dark red-brown, never black: a real mouth's shade in these photos stays above ~25 grey
        # levels (a visitor reads a black hole as a cut-out).
        red = lip * np.array([1.0, 0.5, 0.42], np.float32)
        skin_light = _skin_light(portrait, lm)
        unit = red / max(float(_luma(red)), 1.0)
        self.cavity = unit * max(0.3 * skin_light, 42.0)
        """The cavity near the lips (the light they let in); deeper in it is darker."""
        self.deep = unit * max(0.14 * skin_light, 25.0)
        self.tongue = lip * np.array([0.8, 0.5, 0.5], np.float32)
        self.teeth = teeth_colour(portrait, lm, shows_teeth)
        xs = np.arange(portrait.shape[1], dtype=np.float32)
        centre = float((lm[61, 0] + lm[291, 0]) / 2)
        self.upper = _tooth_row(xs, centre, mouth_width, _UPPER_WIDTHS, _UPPER_SHOW, 0.016)
        self.lower = _tooth_row(xs, centre, mouth_width, _LOWER_WIDTHS, _LOWER_SHOW, 0.012)

    def paint(self, frame: np.ndarray, rest: np.ndarray, top: np.ndarray, bottom: np.ndarray,
              upper_dx: float, upper_dy: float, warp: tuple[np.ndarray, np.ndarray] | None = None,
              inner: np.ndarray | None = None) -> None:
        """Fill the gap between `top` and `bottom` (the parted lips, (n, 2) left to right) in place.

        `rest` is the parting line at rest; the upper jaw has moved by (upper_dx, upper_dy); `warp`
        is the frame's backward map (x, y); `inner` the lips' opening where the frame has moved it
        (OPENING).
        """
        if self._inside is not None and self._inside[1] is not None and warp is not None and inner is not None:
            self._keep_interior_inside(frame, warp, inner)
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
        alpha = alpha[..., None]
        inside = self._interior(rest, top, bottom, opening, (x0, y0, x1, y1), (upper_dx, upper_dy))
        region = frame[y0:y1, x0:x1]
        region[:] = (region * (1 - alpha) + inside * alpha + 0.5).astype(np.uint8)

    def _keep_interior_inside(self, frame: np.ndarray, warp, inner: np.ndarray) -> None:
        """Where the warp carries the portrait's own dark interior (the corners beside the teeth of
        an open smile) outside the lips' opening, show the lips' colour instead: lips stretch and
        round, the cavity stays inside them."""
        moved = inner - self._opening
        if np.abs(moved - np.median(moved, axis=0)).max() < 0.5:  # the lips only moved with the head
            return
        (bx0, by0, _, _), (dx0, dy0, dx1, dy1), matte, fill = self._inside
        h, w = frame.shape[:2]
        m = int(np.ceil(0.12 * self.mw))  # (as far as the lips' fields carry it)
        x0, y0, x1, y1 = max(0, dx0 - m), max(0, dy0 - m), min(w, dx1 + m), min(h, dy1 + 2 * m)
        if x1 - x0 < 3 or y1 - y0 < 3:
            return
        mx = warp[0][y0:y1, x0:x1] - np.float32(bx0)
        my = warp[1][y0:y1, x0:x1] - np.float32(by0)
        dark = cv2.remap(matte, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        if dark.max() < 0.02:
            return
        lips = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(lips, [np.round((inner - [x0, y0]) * 4).astype(np.int32)], 255, cv2.LINE_AA, shift=2)
        lips = cv2.GaussianBlur(cv2.dilate(lips, np.ones((3, 3), np.uint8)), (0, 0), _EDGE_PX)
        amount = dark * (1 - lips.astype(np.float32) / 255.0)
        if amount.max() < 0.02:
            return
        colour = cv2.remap(fill, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        amount = amount[..., None]
        region = frame[y0:y1, x0:x1]
        region[:] = (region + (colour - region) * amount + 0.5).astype(np.uint8)

    def _interior(self, rest, top, bottom, opening, box, upper_shift) -> np.ndarray:
        x0, y0, x1, y1 = box
        xs = np.arange(x0, x1, dtype=np.float32)
        yy = np.arange(y0, y1, dtype=np.float32)[:, None]
        upper = np.interp(xs, top[:, 0], top[:, 1])
        lower = np.interp(xs, bottom[:, 0], bottom[:, 1])
        gap = np.maximum(lower - upper, 1.0)
        left, right = top[0, 0], top[-1, 0]
        across = np.clip(np.abs(xs - (left + right) / 2) / max(0.5 * (right - left), 1.0), 0, 1)
        # Dark red near the lips, darker deeper in (towards the middle of the opening, the more the
        # wider it opens) and towards the corners; the upper lip and teeth shade what is under them.
        # (lit from below by the lower lip; right under the upper teeth and lip, their shadow)
        inward = np.clip(np.minimum(2.5 * (yy - upper), lower - yy) / np.maximum(0.5 * gap, 1.0), 0, 1)
        depth = np.sqrt(inward) * _smooth(opening / (0.15 * self.mw))
        depth = np.maximum(depth, 0.75 * _smooth((across - 0.55) / 0.45))
        out = self.cavity + (self.deep - self.cavity) * depth[..., None]
        out = out * (0.7 + 0.3 * _smooth((yy - upper) / (2.0 + 0.1 * gap)))[..., None]
        out = self._tongue(out, yy, lower, gap, across, opening)
        if not self.own_lower_teeth:
            out = self._lower_teeth(out, yy, xs, lower, across, opening)
        if not self.shows_teeth:
            out = self._upper_teeth(out, yy, xs, upper, rest, upper_shift, across)
        return out

    def _tongue(self, out, yy, lower, gap, across, opening):
        """The tongue's back rises from the floor of the mouth, seen when the mouth is well open:
        rounded, lit on its crest, in shade at its sides and under the teeth."""
        wide = _smooth((opening - 0.1 * self.mw) / (0.2 * self.mw))
        if wide <= 0:
            return out
        crest = lower - gap * (0.34 - 0.28 * across ** 2)
        amount = _smooth((yy - crest) / 2.0) * _smooth((0.75 - across) / 0.3) * wide
        lit = _smooth((yy - crest) / np.maximum(0.35 * (lower - crest), 1.0)) * (1 - across ** 2)
        tone = (0.55 + 0.45 * lit) * (1 - 0.35 * _smooth((lower - yy) / np.maximum(0.25 * gap, 1.0) - 3))
        return out + (self.tongue * tone[..., None] - out) * amount[..., None]

    def _lower_teeth(self, out, yy, xs, lower, across, opening):
        """The lower incisors' tips just inside the lower lip, at wide vowels: partly hidden by the
        lip, in the upper teeth's tone, a little shaded."""
        show = _smooth((opening - 0.2 * self.mw) / (0.25 * self.mw))
        if show <= 0:
            return out
        lengths, tones, warms, gaps = self.lower
        grid = np.arange(len(lengths), dtype=np.float32)
        length = np.interp(xs, grid, lengths) * show
        tone = np.interp(xs, grid, tones) * (1 - 0.12 * np.interp(xs, grid, gaps))
        edge = lower - length
        amount = _smooth((yy - edge) / 1.0 + 0.5) * _smooth((0.6 - across) / 0.25)
        # Their tips catch a little light; lower down the lip's shadow.
        shade = 0.92 * tone * (1.0 - 0.12 * _smooth((yy - edge) / np.maximum(length, 1.0)))
        teeth = self._shaded_teeth(np.interp(xs, grid, warms), shade)
        return out + (teeth - out) * amount[..., None]

    def _upper_teeth(self, out, yy, xs, upper, rest, shift, across):
        """Upper teeth fixed to the upper jaw, from under the upper lip down to their edge, which
        hangs below the resting lip line; in the lip's shadow at the top, a little translucent at
        the biting edge, darker towards the corners where they fade into the mouth's shade."""
        dx, dy = shift
        lengths, tones, warms, gaps = self.upper
        grid = np.arange(len(lengths), dtype=np.float32)
        length = np.interp(xs - dx, grid, lengths)
        tone = np.interp(xs - dx, grid, tones)
        edge = np.interp(xs - dx, rest[:, 0], rest[:, 1]) + dy + length
        amount = _smooth((edge - yy) / 1.0 + 0.5) * _smooth((1.0 - across) / 0.4)
        v = np.clip((yy - upper) / np.maximum(edge - upper, 1.0), 0, 1)  # 0 at the lip, 1 at the edge
        shade = tone * (0.7 + 0.3 * _smooth(v / 0.5)) * (1 - 0.08 * _smooth((v - 0.8) / 0.2))
        # The line where two teeth meet shows most towards their rounded tips.
        shade = shade * (1 - 0.14 * np.interp(xs - dx, grid, gaps) * (0.3 + 0.7 * v))
        teeth = self._shaded_teeth(np.interp(xs - dx, grid, warms), shade)
        return out + (teeth - out) * amount[..., None]

    def _shaded_teeth(self, warm: np.ndarray, shade: np.ndarray) -> np.ndarray:
        """Teeth colour per pixel: warmer (more yellow) where `warm` (per column) is higher, and in
        shade (0..1 of their light) lit by the mouth's own warm, reddish light, never grey."""
        tint = self.teeth[None] * (1 - warm[:, None] * np.array([0.0, 0.04, 0.12], np.float32))
        shade = shade[..., None]
        return tint[None] * shade + (0.35 * self.cavity) * (1 - shade)


def _pinkness(rgb: np.ndarray) -> np.ndarray:
    """How pink-red: lips, gums and tongue are pink-red; teeth white to yellow."""
    return (rgb[..., 0] - rgb[..., 1]) - 0.5 * (rgb[..., 1] - rgb[..., 2])


def _teeth_mask(portrait: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Pixels between the lips that look like teeth: light for this mouth (teeth in a smile's
    shade are darker than the photo's highlights) and not red like lips, gums or tongue. Between
    nearly closed lips (the mesh puts them a little too close) teeth are looked for a little above
    and below the mesh's lip line, and in a warm photo (flash, tungsten) "not red" means clearly
    less pink than the skin."""
    inner = cv2.fillPoly(np.zeros(portrait.shape[:2], np.uint8), [lm[L.INNER_MOUTH].round().astype(np.int32)], 1)
    strict = cv2.dilate(inner, np.ones((3, 3), np.uint8)).astype(bool)
    rgb = portrait.astype(np.float32)
    light = _luma(rgb)
    if strict.sum() < 10:
        return np.zeros(strict.shape, bool)
    level = float(np.percentile(light[strict], 95))
    pink = _pinkness(rgb)
    found = strict & (light > 0.5 * level) & (pink < 0.12 * rgb[..., 0] + 6)
    xy = lm[:, :2]
    mw = float(np.linalg.norm(xy[61] - xy[291]))
    if found.sum() > 0.01 * mw * mw:
        return found
    k = max(1, round(0.04 * mw))
    band = cv2.dilate(inner, np.ones((2 * k + 1, 3), np.uint8)).astype(bool)
    skin = _skin(portrait, lm)
    skin_pink = float(np.median(_pinkness(skin))) if len(skin) > 20 else 40.0
    relaxed = band & (light > 0.6 * _skin_light(portrait, lm)) & (
        (pink < 0.12 * rgb[..., 0] + 6) | (pink < 0.75 * skin_pink))
    return found | relaxed


def shows_teeth(portrait: np.ndarray, landmarks: np.ndarray) -> bool:
    """Whether the portrait shows its own teeth (an open smile, or a glimpse between the lips):
    then they are the upper teeth, and none are made up."""
    lm = landmarks[:, :2].astype(np.float32)
    if mouth_open(landmarks):
        return True
    mw = float(np.linalg.norm(lm[61] - lm[291]))
    return bool(_teeth_mask(portrait, lm).sum() > 0.008 * mw * mw)


def _interior_and_lips(portrait: np.ndarray, lm: np.ndarray, teeth: np.ndarray, mw: float):
    """(box, dark box, dark, lip colour) around an open mouth: a soft matte (0..1) of its dark
    interior between the lips (not teeth, not gums), where it is (None: nowhere), and a smooth
    colour of the lips around it (a blur of the lip pixels only), both over the box."""
    h, w = portrait.shape[:2]
    outer = np.concatenate([lm[L.LIPS_UPPER_OUTER], lm[L.LIPS_LOWER_OUTER]])
    m = int(np.ceil(0.1 * mw))
    x0, y0 = np.maximum(np.floor(outer.min(axis=0)).astype(int) - m, 0)
    x1, y1 = np.minimum(np.ceil(outer.max(axis=0)).astype(int) + m, (w, h))
    rgb = portrait[y0:y1, x0:x1].astype(np.float32)
    shift = np.array([x0, y0], np.float32)
    inner = cv2.fillPoly(np.zeros(rgb.shape[:2], np.uint8), [(lm[L.INNER_MOUTH] - shift).round().astype(np.int32)], 1)
    inner = cv2.dilate(inner, np.ones((3, 3), np.uint8)).astype(bool)
    light = _luma(rgb)
    own = teeth[y0:y1, x0:x1] & inner
    level = float(np.percentile(light[own], 60)) if own.sum() > 20 else 200.0
    dark = np.clip((0.5 * level - light) / (0.2 * level), 0, 1) * inner
    matte = cv2.GaussianBlur(dark.astype(np.float32), (0, 0), 0.7).clip(0, 1)
    outline = [(lm[part] - shift).round().astype(np.int32) for part in (L.LIPS_UPPER_OUTER, L.LIPS_LOWER_OUTER)]
    lips = cv2.fillPoly(np.zeros(rgb.shape[:2], np.uint8), outline, 1)
    weight = (lips.astype(bool) & ~inner).astype(np.float32) * (1 - matte)
    sigma = max(1.5, 0.05 * mw)
    fill = cv2.GaussianBlur(rgb * weight[..., None], (0, 0), sigma) / np.maximum(
        cv2.GaussianBlur(weight, (0, 0), sigma), 1e-4)[..., None]
    wide = cv2.GaussianBlur(weight, (0, 0), 3 * sigma)
    far = cv2.GaussianBlur(rgb * weight[..., None], (0, 0), 3 * sigma) / np.maximum(wide, 1e-4)[..., None]
    trust = np.clip(cv2.GaussianBlur(weight, (0, 0), sigma) / 0.2, 0, 1)[..., None]
    fill = (fill * trust + far * (1 - trust)).astype(np.float32)
    ys, xs = np.nonzero(matte > 0.02)
    dark = (x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1) if len(xs) else None
    return (int(x0), int(y0), int(x1), int(y1)), dark, matte, fill


def _teeth_below(teeth: np.ndarray, split: np.ndarray, lm: np.ndarray) -> bool:
    """Whether teeth (`teeth`: _teeth_mask) show between the parting line and the lower lip."""
    lower = lm[list(reversed(L.LIPS_LOWER_INNER))]
    poly = np.concatenate([split, lower[::-1]]).round().astype(np.int32)
    mask = cv2.fillPoly(np.zeros(teeth.shape, np.uint8), [poly], 1).astype(bool)
    return bool(mask.sum() > 20 and (teeth & mask).sum() > 0.15 * mask.sum())


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
    skin_light = _skin_light(portrait, lm)
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
    ivory = ivory * np.array([1.0, 0.97, 0.92], np.float32)
    return (ivory * 0.85 * level / float(_luma(ivory))).clip(0, 255).astype(np.float32)


def _skin_light(image: np.ndarray, lm: np.ndarray) -> float:
    """The photo's light on the face: the 90th percentile brightness of the cheeks and forehead."""
    skin = _skin(image, lm)
    return float(np.percentile(_luma(skin), 90)) if len(skin) > 20 else 170.0


def _skin(image: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Pixels of both cheeks and the forehead."""
    r = max(2, int(0.04 * np.linalg.norm(lm[33] - lm[263])))
    patches = [image[int(y) - r:int(y) + r, int(x) - r:int(x) + r].reshape(-1, 3) for x, y in lm[[50, 280, 151]]]
    return np.concatenate(patches).astype(np.float32)


def _pixels_in(image: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    mask = cv2.fillPoly(np.zeros(image.shape[:2], np.uint8), [polygon.round().astype(np.int32)], 1)
    return image[mask.astype(bool)].astype(np.float32)
