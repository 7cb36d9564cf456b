"""Synthesized teeth for the mouth interior (runtime.face.mouth): the rows, their colour and shading.

A row is built once per avatar as profiles across the mouth, per portrait column: how far each
tooth shows beyond the row's line, its light, its warmth and where two teeth meet. The biting
edge is a smooth curve (each tooth a little longer or shorter than its neighbour, never a notch
per tooth, which reads as a wavy line); individual teeth show through soft gaps, dark lines that
widen a little towards the edge where the teeth round off. The upper row hangs from the upper jaw
under the upper lip, in its shadow at the top and a little translucent at the edge; the lower
row shows only its tips, only at wide openings (a second full row reads as a denture).
"""

from __future__ import annotations

import cv2
import numpy as np

from runtime.face import landmarks as L
from runtime.face.ease import smoothstep

_UPPER_WIDTHS = (0.135, 0.105, 0.09, 0.075, 0.065, 0.06)
"""Apparent widths of the upper teeth from the middle outwards (fractions of the mouth width)."""
_LOWER_WIDTHS = (0.075, 0.08, 0.08, 0.075, 0.065, 0.06)
_UPPER_LENGTHS = (1.0, 0.88, 0.93, 0.8, 0.76, 0.72)
"""Each upper tooth's length relative to the central incisors (laterals shorter, canines longer)."""
_LOWER_LENGTHS = (1.0, 1.0, 0.95, 0.85, 0.8, 0.75)
_UPPER_SHOW = 0.085
"""How far the upper incisors reach below the line where the lips part (mouth widths)."""
_LOWER_SHOW = 0.036
_LOWER_FROM, _LOWER_OVER = 0.3, 0.1
"""The lower tips appear from an opening of 0.31 mouth widths on and show fully 0.1 later: at an A,
barely at an O, never at an E."""
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)




def luma(rgb: np.ndarray) -> np.ndarray:
    """Luminance (BT.601)."""
    return rgb @ _LUMA


def tooth_row(xs: np.ndarray, centre: float, mw: float, widths, lengths, show: float,
              gap_width: float = 0.008, worn: float = 0.0) -> tuple:
    """Per column: how far the row shows beyond its line (pixels), its light (0..1), how much warmer
    than the front teeth it is (0..1), where two teeth meet (1 at a gap, a soft bump, `gap_width`
    mouth widths wide) and how far across one tooth the column is (0..1). `worn` (0..1): how
    uneven the teeth are (each a little longer or shorter, lit a little differently, their corners
    rounded off where two meet): made-up teeth all alike read as a denture."""
    bounds = np.cumsum((0.0, *widths)) * mw
    off = np.abs(xs - centre)
    index = np.clip(np.searchsorted(bounds, off, side="right") - 1, 0, len(widths) - 1)
    left, width = bounds[index], np.diff(bounds)[index]
    pos = np.clip((off - left) / width, 0, 1)
    u = off / (0.5 * mw)
    side = np.where(xs < centre, 0, 1)
    # Each tooth a little longer or shorter than its neighbour (per side), joined smoothly: the
    # edge is one gentle curve that rises towards the corners.
    # (worn teeth: a fixed draw per tooth and side, the same every frame)
    odd = np.random.default_rng(11).uniform(-1.0, 1.0, (3, 2, len(widths)))[:, side, index] * worn
    step = np.asarray(lengths, np.float64)[index] * np.where(side == 0, 1.0, 0.985) * (1 + 0.07 * odd[0])
    length = show * mw * step * (1.0 - 0.4 * np.clip(u, 0, 1.2) ** 2)
    length = cv2.GaussianBlur(length[None].astype(np.float32), (0, 0), max(1.0, (0.012 - 0.005 * worn) * mw))[0]
    light = np.array([[1.0, 0.93, 0.94, 0.88, 0.86, 0.84], [0.97, 0.95, 0.91, 0.89, 0.85, 0.83]])[side, index]
    light = light * (1 + 0.06 * odd[1]) * (1 - worn * np.array([0.0, 0.06, 0.14, 0.22, 0.3, 0.38])[index])
    # Each tooth rounds away from the light at its sides; teeth further back are in the mouth's shade.
    tone = light * (0.9 - 0.1 * worn + (0.1 + 0.1 * worn) * np.sin(np.pi * pos)) * np.clip(1.0 - 0.8 * u ** 2, 0.2, 1)
    warm = np.array([0.0, 0.15, 0.6, 0.5, 0.5, 0.5])[index] + 0.15 * worn * (1 + odd[2])
    to_gap = np.minimum(pos, 1 - pos) * width
    gap = np.exp(-((to_gap / max(0.7, gap_width * mw)) ** 2))
    # (where two worn teeth meet their corners are rounded off: a small notch in the biting edge,
    # as deep as a pixel or two, not a saw)
    length = length * (1 - 0.14 * worn * np.exp(-((to_gap / max(1.0, 2.2 * gap_width * mw)) ** 2)))
    return tuple(np.asarray(a, np.float32) for a in (np.clip(length, 0, None), tone, warm, gap))


class Teeth:
    """One avatar's synthesized teeth (colour from the portrait); built once per avatar."""

    def __init__(self, portrait: np.ndarray, lm: np.ndarray, mouth_width: float, shows_teeth: bool,
                 back: np.ndarray) -> None:
        self.mw, self.back = mouth_width, back
        """The back of the mouth's colour (runtime.face.cavity): the light teeth in shade get."""
        self.colour = teeth_colour(portrait, lm, shows_teeth)
        if not shows_teeth:  # (teeth nobody has seen: in the mouth's shade, a little yellow, never a bright row
            # and never lighter than the lit skin around the mouth)
            self.colour = self.colour * np.array([0.9, 0.86, 0.78], np.float32)
            self.colour *= min(1.0, 0.82 * skin_light(portrait, lm) / max(float(luma(self.colour)), 1.0))
        xs = np.arange(portrait.shape[1], dtype=np.float32)
        centre = float((lm[61, 0] + lm[291, 0]) / 2)
        # Teeth the photo does not show are drawn as soft as the photo (its lips' edges are some
        # pixels wide at a small mouth): crisp edges and hairline gaps read as clip-art.
        gap_width = 0.008 if shows_teeth else 0.011
        self._soft = 1.5 if shows_teeth else max(1.5, 0.024 * mouth_width)
        """How wide (pixels) a drawn tooth's edge fades into the mouth."""
        worn = 0.0 if shows_teeth else 1.0
        self.upper_row = tooth_row(xs, centre, mouth_width, _UPPER_WIDTHS, _UPPER_LENGTHS, _UPPER_SHOW, gap_width, worn)
        # (made up, the lower row shows its tips as a photo's do: a mere sliver of them read as no lower teeth)
        self.lower_row = tooth_row(xs, centre, mouth_width, _LOWER_WIDTHS, _LOWER_LENGTHS, _LOWER_SHOW, gap_width)
        self.grain = grain(portrait, lm, shows_teeth)
        """(h, w) the photo's own grain (its sensor noise, as strong as on the skin) laid over the teeth
        drawn into it: without it they are smooth blocks in a grainy photo (a denture)."""
        self._gaps = 1.0 if shows_teeth else 0.6
        """How dark the gaps between teeth are drawn: teeth the photo does not show are in the mouth's
        shade, less defined than a smile's (seams, not dark gaps)."""
        self._fade = 0.0 if shows_teeth else 0.15
        """How much colour made-up teeth lose in shade (0..1)."""

    def lower(self, out, yy, xs, lower, across, opening, seen: float = 1.0):
        """The lower incisors' tips just inside the lower lip, only at wide openings: partly hidden by
        the lip, in the upper teeth's tone, a little shaded, their edge one smooth curve. `seen`
        (0..1): how much of them the lips leave showing (rounded lips cover them)."""
        show = smoothstep((opening - _LOWER_FROM * self.mw) / (_LOWER_OVER * self.mw)) * seen
        if show <= 0:
            return out
        lengths, tones, warms, gaps = self.lower_row
        grid = np.arange(len(lengths), dtype=np.float32)
        length = np.interp(xs, grid, lengths) * show
        gap = np.interp(xs, grid, gaps)
        edge = lower - length
        amount = (smoothstep((yy - edge) / self._soft + 0.5) * smoothstep((0.38 - across) / 0.22)
                  * smoothstep(show / 0.5))
        v = np.clip((yy - edge) / np.maximum(length, 1.0), 0, 1)  # 0 at the tips, 1 at the lip
        shade = 0.93 * np.interp(xs, grid, tones) * (1 - 0.14 * smoothstep(v)) * (1 - 0.12 * self._gaps * gap)
        teeth = self._shaded(np.interp(xs, grid, warms), shade) + self.grain_at(yy, xs, 0.0, 0.0)
        return out + (teeth - out) * amount[..., None]

    def upper(self, out, yy, xs, upper, rest, shift, across, opening):
        """Upper teeth fixed to the upper jaw, from under the upper lip down to their edge, which
        hangs below the resting lip line by as much as the opening shows (a small opening, their
        edge; a wide one, more): in the lip's shadow at the top, a little translucent at the biting
        edge, separated by soft gaps that widen towards the edge; only the front teeth catch the
        light, the side ones fade into the mouth's shade (a lit row from corner to corner reads as
        a denture)."""
        dx, dy = shift
        lengths, tones, warms, gaps = self.upper_row
        grid = np.arange(len(lengths), dtype=np.float32)
        edge = self._upper_edge(xs, rest, shift, opening)
        amount = smoothstep((edge - yy) / self._soft + 0.5) * smoothstep((0.85 - across) / 0.45)
        v = np.clip((yy - upper) / np.maximum(edge - upper, 1.0), 0, 1)  # 0 at the lip, 1 at the edge
        gap = np.interp(xs - dx, grid, gaps)
        gap = gap ** (1.0 / (0.6 + 1.4 * v))  # (wider towards the edge, where the teeth round off)
        shade = np.interp(xs - dx, grid, tones) * (0.72 + 0.28 * smoothstep(v / 0.4))
        shade = shade * (1 - 0.1 * smoothstep((v - 0.7) / 0.3)) * (1 - self._gaps * gap * (0.2 + 0.4 * v ** 2))
        shade = shade * (1 - 0.5 * smoothstep((across - 0.35) / 0.6))
        teeth = self._shaded(np.interp(xs - dx, grid, warms), shade)
        # The biting edge is a little translucent: cooler, the mouth's dark behind it.
        edge_tint = smoothstep((v - 0.75) / 0.25)[..., None] * np.array([-0.03, -0.01, 0.03], np.float32)
        teeth = teeth * (1 + edge_tint) + self.grain_at(yy, xs, dx, dy)
        return out + (teeth - out) * amount[..., None]

    def below_upper(self, xs, upper, rest, shift, across, opening) -> np.ndarray:
        """Per column: where the mouth shows below the upper teeth (their edge; the upper lip
        `upper` beside them, where the row fades into the mouth's shade)."""
        edge = self._upper_edge(xs, rest, shift, opening)
        return upper + np.maximum(edge - upper, 0.0) * smoothstep((0.85 - across) / 0.45)

    def _upper_edge(self, xs, rest, shift, opening) -> np.ndarray:
        """Per column: the upper teeth's biting edge, hanging below the resting parting line `rest`
        (moved by the upper jaw's `shift`) by as much as the opening shows."""
        dx, dy = shift
        lengths = self.upper_row[0]
        shows = 0.55 + 0.45 * smoothstep((opening - 0.1 * self.mw) / (0.2 * self.mw))
        length = np.interp(xs - dx, np.arange(len(lengths), dtype=np.float32), lengths) * shows
        return np.interp(xs - dx, rest[:, 0], rest[:, 1]) + dy + length

    def grain_at(self, yy: np.ndarray, xs: np.ndarray, dx: float, dy: float) -> np.ndarray:
        """The photo's grain over rows `yy` (a column) and columns `xs`, carried by (dx, dy) with the
        teeth (it does not crawl over them as the head moves), (h, w, 1)."""
        h, w = self.grain.shape
        rows = np.clip(np.round(yy[:, 0] - dy).astype(int), 0, h - 1)
        cols = np.clip(np.round(xs - dx).astype(int), 0, w - 1)
        return self.grain[np.ix_(rows, cols)][..., None]

    def _shaded(self, warm: np.ndarray, shade: np.ndarray) -> np.ndarray:
        """Teeth colour per pixel: warmer (more yellow) where `warm` (per column) is higher, and in
        shade (0..1 of their light) lit by the mouth's own warm, reddish light, never grey. Made-up
        teeth also lose their colour in shade (towards the corners and in the gaps: a row as
        saturated at its ends as in its middle read as a sticker)."""
        tint = self.colour[None] * (1 - warm[:, None] * np.array([0.0, 0.04, 0.12], np.float32))
        shade = shade[..., None]
        tint = tint[None] + (luma(tint)[None, ..., None] - tint[None]) * (self._fade * (1 - shade))
        return tint * shade + (0.5 * self.back) * (1 - shade)


def teeth_colour(portrait: np.ndarray, lm: np.ndarray, shows_teeth: bool) -> np.ndarray:
    """Teeth colour from the portrait: its own teeth if shown, else its eye whites and skin light."""
    if shows_teeth:
        pixels = pixels_in(portrait, lm[L.INNER_MOUTH])
        if len(pixels) > 20:
            light = luma(pixels)
            return np.median(pixels[light >= np.percentile(light, 70)], axis=0).astype(np.float32)
    ivory = np.array([238, 230, 214], np.float32)
    found = skin(portrait, lm)
    level_of_skin = skin_light(portrait, lm)
    if len(found) > 20:  # the photo's light and white balance: a little of the skin's hue
        tint = found.mean(axis=0) / max(float(found.mean()), 1.0)
        ivory = ivory * (0.8 + 0.2 * tint)
    whites = np.concatenate([pixels_in(portrait, lm[eye]) for eye in (L.RIGHT_EYE, L.LEFT_EYE)])
    level = min(235.0, max(120.0, 1.15 * level_of_skin))
    if len(whites) > 20:
        light = luma(whites)
        sclera = np.median(whites[light >= np.percentile(light, 80)], axis=0).astype(np.float32)
        if luma(sclera) > 0.8 * level_of_skin:  # real eye whites (not sunglasses, not closed eyes)
            level = min(level, 0.5 * (level + float(luma(sclera))))
            tint = sclera / max(float(sclera.mean()), 1.0)
            ivory = ivory * (0.6 + 0.4 * tint)
    # Teeth in a mouth are in its shade: a little darker and warmer than eye whites in the open.
    ivory = ivory * np.array([1.0, 0.97, 0.92], np.float32)
    return (ivory * 0.85 * level / float(luma(ivory))).clip(0, 255).astype(np.float32)


def grain(portrait: np.ndarray, lm: np.ndarray, shows_teeth: bool) -> np.ndarray:
    """A fixed field of noise over the portrait as strong as the photo's own grain on the skin beside
    the mouth (the median of what a 3x3 median filter takes out of the cheeks), in grey levels."""
    r = max(2, int(0.04 * np.linalg.norm(lm[33] - lm[263])))
    light = luma(portrait.astype(np.float32))
    residual = np.abs(light - cv2.medianBlur(light.clip(0, 255).astype(np.uint8), 3))
    patches = [residual[max(0, int(y) - r):int(y) + r, max(0, int(x) - r):int(x) + r].ravel() for x, y in lm[[50, 280]]]
    level = float(np.median(np.concatenate(patches))) if sum(map(len, patches)) > 20 else 1.0
    noise = np.random.default_rng(7).normal(0.0, 1.0, portrait.shape[:2]).astype(np.float32)
    # (white noise: the median of |n - median3(n)| is 0.58 of its deviation)
    return noise * (level / 0.58)


def skin_light(image: np.ndarray, lm: np.ndarray) -> float:
    """The photo's light on the face: the 90th percentile brightness of the cheeks and forehead."""
    found = skin(image, lm)
    return float(np.percentile(luma(found), 90)) if len(found) > 20 else 170.0


def skin(image: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Pixels of both cheeks and the forehead."""
    r = max(2, int(0.04 * np.linalg.norm(lm[33] - lm[263])))
    patches = [image[int(y) - r:int(y) + r, int(x) - r:int(x) + r].reshape(-1, 3) for x, y in lm[[50, 280, 151]]]
    return np.concatenate(patches).astype(np.float32)


def pixels_in(image: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """The pixels inside a polygon, (n, 3) float."""
    mask = cv2.fillPoly(np.zeros(image.shape[:2], np.uint8), [polygon.round().astype(np.int32)], 1)
    return image[mask.astype(bool)].astype(np.float32)
