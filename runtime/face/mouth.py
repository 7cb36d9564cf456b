"""The mouth interior painted where the lips part: the cavity and tongue (runtime.face.cavity),
upper and lower teeth (runtime.face.teeth), with a soft edge, kept inside the lips.

The teeth are placed per frame: the upper row hangs from the upper jaw (it moves with the head
only, so it stays under the upper lip as the jaw drops), the lower tips ride on the jaw and show
only at wide openings. A portrait that shows its own teeth keeps them (the lips part below them)
and gets only the lower tips. Colours come from the portrait: its teeth when it shows them, else
its eye whites and skin; the cavity and the tongue from its lips.
"""

from __future__ import annotations

import cv2
import numpy as np

from runtime.face import landmarks as L
from runtime.face.cavity import Cavity
from runtime.face.ease import smoothstep
from runtime.face.rig import mouth_open
from runtime.face.teeth import Teeth
from runtime.face.teeth import luma as _luma
from runtime.face.teeth import skin as _skin
from runtime.face.teeth import skin_light as _skin_light

OPENING = [61, *L.LIPS_UPPER_INNER[1:-1], 291, *L.LIPS_LOWER_INNER[1:-1]]
"""Mesh points around the lips' opening out to the mouth's corners (the dark corners of a smile
reach past the inner lip corners)."""
_INNER_LIP = 0.035
"""Height of the shaded inner edge of the lower lip under the opening (mouth widths)."""
_EDGE_PX = 1.1
"""Feather of the cavity's outline (pixels, Gaussian sigma): a soft lip edge, never a hard step."""


class MouthPainter:
    """Paints one avatar's mouth interior; built once per avatar."""

    def __init__(self, portrait: np.ndarray, landmarks: np.ndarray, mouth_width: float, split: np.ndarray,
                 shows_teeth: bool, own_row: bool = False) -> None:
        self.mw, self.shows_teeth = mouth_width, shows_teeth
        self.own_row = own_row
        """The photo shows a thin row of its own upper teeth between lips the mesh puts together (the
        bar photo): it stays above the opening and none are made up (a second row under it)."""
        self.opened: tuple[int, int, np.ndarray] | None = None
        """The last frame's painted opening: (x0, y0, matte 0..1) over its box (None: none painted)."""
        lm = landmarks[:, :2]
        teeth = _teeth_mask(portrait, lm)
        self.own_lower_teeth = shows_teeth and _teeth_below(teeth, split, lm)
        """The portrait shows its lower teeth too: they ride on the jaw with the lower lip."""
        self._inside = None
        if shows_teeth:
            self._inside = _interior_and_lips(portrait, lm, teeth, mouth_width)
        self._rise = np.zeros((len(split), 2), np.float32)
        """Per point of the parting line: how far above it the photo's own dark inside reaches (beside
        the last teeth of a smile, towards its corners), as (0, dy)."""
        if self._inside is not None and self._inside[1] is not None:
            self._rise[:, 1] = _dark_above(self._inside, split, mouth_width)
        self._opening = lm[OPENING].astype(np.float32)
        """An open mouth's own dark interior (the corners beside its teeth), as (box, matte, lip
        colour): where the jaw's opening stretches it outside the painted opening (below the lip
        corners), it becomes the lips' colour, so the cavity stays inside the lips."""
        lip = _mean_in(portrait, lm[L.LIPS_LOWER_OUTER], np.array([150, 70, 70], np.float32))
        self.lip = _lips_colour(portrait, lm, lip)
        """The lips' own colour (their median, without what shows between them)."""
        self.inside = Cavity(portrait, lm, mouth_width, self.lip)
        self.cavity, self.deep = self.inside.front, self.inside.back
        """The cavity near the lips (the light they let in) and at the back of the mouth."""
        self.teeth = Teeth(portrait, lm, mouth_width, shows_teeth, self.deep)
        edge = self.cavity * 1.4
        paler = float(smoothstep((_saturation(edge) - _saturation(self.lip) - 0.1) / 0.2))
        in_lip_hue = self.lip / max(float(_luma(self.lip)), 1.0) * float(_luma(edge))
        self._inner_edge = edge + (in_lip_hue - edge) * 0.6 * paler
        """The lower lip's inner edge as it turns into the mouth, in the cavity's light: the cavity's
        red, most of the way to the lip's own hue where the lips are much paler than it (the cavity's
        red alone drew a red line round the opening of a pale-lipped mouth)."""

    def paint(self, frame: np.ndarray, rest: np.ndarray, top: np.ndarray, bottom: np.ndarray,
              upper_dx: float, upper_dy: float, warp: tuple[np.ndarray, np.ndarray] | None = None,
              inner: np.ndarray | None = None, shut: float = 0.0, rounded: float = 0.0) -> None:
        """Fill the gap between `top` and `bottom` (the parted lips, (n, 2) left to right) in place.

        `rest` is the parting line at rest; the upper jaw has moved by (upper_dx, upper_dy); `warp`
        is the frame's backward map (x, y); `inner` the lips' opening where the frame has moved it
        (OPENING); `shut` (0..1) how far pressed lips have met (m, b, p): then none of the photo's
        own dark inside shows, not even at the corners; `rounded` (0..1) how far the lips round.
        """
        split = corner = top
        self.opened = None
        top, bottom = _taper(top, bottom)
        if self.shows_teeth:  # (the opening's top stays on the line the jaw tears the photo along, out
            # to the corners: tapered below it, the torn row showed as a dotted line beside the teeth)
            top = np.minimum(top, split)
            # (beside the last teeth the photo's dark corner above the line joins the opening: left
            # to the tint of the photo's inside it showed as a lighter wedge with a dotted edge)
            corner = top
            top = top - self._rise * smoothstep((bottom[:, 1] - top[:, 1]).max() / (0.04 * self.mw))
        opening = float((bottom[:, 1] - top[:, 1]).max())
        if self._inside is not None and self._inside[1] is not None and warp is not None and inner is not None:
            self._keep_interior_inside(frame, warp, inner, bottom if opening >= 0.6 else None, shut,
                                       max(shut, rounded), smoothstep(opening / (0.06 * self.mw)))
        # (lips apart in the photo that have met have no opening between them: its shaded rim and
        # lower-lip band drew the smile's outline in grey loops beside the closed lips)
        met = shut if self.shows_teeth else 0.0
        if opening < 0.6 or met >= 0.999:
            return
        # (over the photo's own teeth the opening starts a pixel higher: the row the lips part
        # along, stretched by the jaw, showed as a dotted dark line under the teeth)
        lift = np.array([0.0, 1.0 if self.shows_teeth else 0.0], np.float32) * min(1.0, opening / 3.0)
        poly = np.concatenate([top - lift, bottom[::-1]])
        h, w = frame.shape[:2]
        lip = max(2.0, _INNER_LIP * self.mw)
        x0, y0 = np.maximum(np.floor(poly.min(axis=0)).astype(int) - 4, 0)
        x1, y1 = np.minimum(np.ceil(poly.max(axis=0) + np.array([0.0, 2 * lip])).astype(int) + 5, (w, h))
        if x1 - x0 < 3 or y1 - y0 < 3:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round((poly - [x0, y0]) * 4).astype(np.int32)], 255, cv2.LINE_AA, shift=2)
        # (a hairline gap fades in, never a black line; and out as the lips meet)
        fade_in = min(1.0, (opening - 0.6) / 3.0) * (1.0 - met)
        alpha = cv2.GaussianBlur(mask, (0, 0), _EDGE_PX).astype(np.float32) / 255.0 * fade_in
        # The lower lip's inner edge turns into the mouth, in its shade: a band under the opening
        # darkens smoothly towards the cavity, so the moved lip's own edge (a pale rim, the tips of
        # teeth behind it) does not show as a second, jagged outline inside the lip.
        low = np.concatenate([(top + bottom) / 2, (bottom + np.array([0.0, lip]))[::-1]])
        under = np.zeros_like(mask)
        cv2.fillPoly(under, [np.round((low - [x0, y0]) * 4).astype(np.int32)], 255, cv2.LINE_AA, shift=2)
        under = cv2.GaussianBlur(under, (0, 0), 0.5 * lip).astype(np.float32) / 255.0
        shade = np.clip(under - alpha, 0.0, 1.0) * (0.6 * fade_in * smoothstep(opening / (0.08 * self.mw)))
        if inner is not None:  # (the cavity stays inside the lips: where the jaw's opening of the
            # parting line runs below the lower lip's moved inner edge, at the corners, the lip shows)
            keep = np.zeros_like(mask)
            n = len(OPENING) // 2
            bound = np.concatenate([top - [0.0, 2 * lip], inner[n:], inner[:1]])
            cv2.fillPoly(keep, [np.round((bound - [x0, y0]) * 4).astype(np.int32)], 255, cv2.LINE_AA, shift=2)
            k = 2 * round(0.6 * lip) + 1  # (the mesh's inner lip edge runs a little inside the lip's wet edge)
            keep = cv2.dilate(keep, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
            keep = cv2.GaussianBlur(keep, (0, 0), _EDGE_PX).astype(np.float32) / 255.0
            alpha, shade = alpha * keep, shade * keep
        self.opened = (int(x0), int(y0), alpha)
        alpha, shade = alpha[..., None], shade[..., None]
        inside = self._interior(rest, top, bottom, opening, (x0, y0, x1, y1), (upper_dx, upper_dy), rounded,
                                alpha[..., 0])
        if corner is not top:  # (under the upper lip in the corner, in its shade: half-way to grey, as
            # the photo's dark corners are tinted; the cavity's full red there drew a red rim)
            band = np.zeros_like(mask)
            under = np.concatenate([top, corner[::-1] + np.array([0.0, 1.0], np.float32)])
            cv2.fillPoly(band, [np.round((under - [x0, y0]) * 4).astype(np.int32)], 255, cv2.LINE_AA, shift=2)
            band = cv2.GaussianBlur(band, (0, 0), 1.0)[..., None].astype(np.float32) / 255.0
            grey = _luma(inside)[..., None]
            inside = inside + (grey - inside) * (0.5 * band)
        region = frame[y0:y1, x0:x1]
        mixed = region * (1 - alpha) + inside * alpha
        mixed += (self._inner_edge - mixed) * shade
        region[:] = (mixed + 0.5).clip(0, 255).astype(np.uint8)

    def _keep_interior_inside(self, frame: np.ndarray, warp, inner: np.ndarray, floor: np.ndarray | None,
                              shut: float = 0.0, cover: float = 0.0, opened: float = 0.0) -> None:
        """Where the warp carries the portrait's own dark interior (the corners beside the teeth of
        an open smile) or its teeth outside the lips' opening, show the lips' colour instead: lips
        stretch and round, the cavity stays inside them. `floor`: the painted opening's lower edge
        ((n, 2) left to right; None: no opening painted): below it is the lower lip (rounded lips
        gather the opening in its middle and pull the side teeth's pixels down beside it). Inside
        the lips, as the mouth opens (`opened`, 0..1), the photo's near-black corners take the
        painted mouth's dark red-brown: black wedges beside a maroon cavity looked cut out."""
        moved = inner - self._opening
        if np.abs(moved - np.median(moved, axis=0)).max() < 0.5:  # the lips only moved with the head
            return
        (bx0, by0, _, _), (dx0, dy0, dx1, dy1), matte, fill, shadow = self._inside
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
        if cover > 0:  # (lips moving in over the photo's dark corners, shut or rounded, cover the
            # half-dark rim round them too: a soft matte over a dark spot left its rim as a ring round
            # closed lips' corners and an outline beside rounded ones)
            sigma = max(1.0, 0.02 * self.mw)
            dark = np.maximum(dark, cover * np.clip(cv2.GaussianBlur(dark, (0, 0), sigma) * 2.5, 0, 1))
        lips = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(lips, [np.round((inner - [x0, y0]) * 4).astype(np.int32)], 255, cv2.LINE_AA, shift=2)
        if floor is not None:
            xs = np.arange(x0, x1, dtype=np.float32)
            low = np.interp(xs, floor[:, 0], floor[:, 1], left=-np.inf, right=-np.inf) + 1.0 - y0
            lips[np.arange(y1 - y0)[:, None] > low[None]] = 0
        lips = cv2.GaussianBlur(cv2.dilate(lips, np.ones((3, 3), np.uint8)), (0, 0), _EDGE_PX)
        within = lips.astype(np.float32) / 255.0
        amount = dark * (1 - (1 - shut) * within)
        tint = opened * (1 - shut)
        if tint > 0.02:
            tint = tint * within * cv2.remap(shadow, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                             borderValue=0)
        if amount.max() < 0.02 and np.max(tint) < 0.02:
            return
        colour = cv2.remap(fill, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        region = frame[y0:y1, x0:x1].astype(np.float32)
        if shut > 0:  # (closed lips: what the smile's dark corners are carried onto is skin or lip,
            # whichever the frame shows round them: the lips' colour there drew pink-grey blobs with a
            # grey outline, the smile's opening, beside closed lips)
            colour += (_around(region, amount, 0.04 * self.mw) - colour) * shut
        region += (colour - region) * amount[..., None]
        if np.max(tint) >= 0.02:  # (the mouth's hue, as light as the photo there but never black)
            deep = float(_luma(self.deep))
            hue = self.deep / max(deep, 1.0)
            hue = hue + (1.0 - hue) * 0.5  # (half-way to grey: the full red drew a red rim at the corners)
            target = hue * np.maximum(_luma(region), 0.9 * deep)[..., None]
            region += (target - region) * np.asarray(tint, np.float32)[..., None]
        frame[y0:y1, x0:x1] = (region + 0.5).astype(np.uint8)

    def _interior(self, rest, top, bottom, opening, box, upper_shift, rounded: float = 0.0,
                  matte: np.ndarray | None = None) -> np.ndarray:
        x0, y0, x1, y1 = box
        xs = np.arange(x0, x1, dtype=np.float32)
        yy = np.arange(y0, y1, dtype=np.float32)[:, None]
        upper = np.interp(xs, top[:, 0], top[:, 1])
        lower = np.interp(xs, bottom[:, 0], bottom[:, 1])
        left, right = top[0, 0], top[-1, 0]
        across = np.clip(np.abs(xs - (left + right) / 2) / max(0.5 * (right - left), 1.0), 0, 1)
        # (the inside shows below the upper teeth: its shade starts under their edge)
        own = self.shows_teeth or self.own_row
        seen = upper if own else self.teeth.below_upper(xs, upper, rest, upper_shift, across, opening)
        if matte is not None:
            matte = matte / max(float(matte.max()), 1e-3)
        out = self.inside.shade(yy, xs, seen, lower, opening, (float(left), float(right)), matte, own)
        # (the photo's own grain, a little weaker in the dark, carried with the upper jaw: a smooth
        # painted inside in a grainy photo reads as pasted in)
        out = out + 0.8 * self.teeth.grain_at(yy, xs, *upper_shift)
        if not self.own_lower_teeth and rounded < 0.95:  # (rounded lips cover the lower teeth: at an
            # O their tips showed as a grey point at the bottom of the opening)
            out = self.teeth.lower(out, yy, xs, lower, across, opening, 1.0 - rounded)
        if not own:
            out = self.teeth.upper(out, yy, xs, upper, rest, upper_shift, across, opening)
        return out


def _around(region: np.ndarray, hidden: np.ndarray, sigma: float) -> np.ndarray:
    """Per pixel, the colour of what the region shows around it where it is not `hidden` (0..1):
    a blur of the shown pixels only, wider where they are far."""
    weight = np.clip(1.0 - 2.0 * hidden, 0, 1).astype(np.float32)
    out = np.zeros_like(region)
    norm = np.zeros(weight.shape, np.float32)
    for s in (sigma, 3 * sigma):  # (a wide blur fills what the narrow one cannot reach)
        near = cv2.GaussianBlur(weight, (0, 0), s)
        trust = np.clip(near / 0.3, 0, 1) * (1 - norm)
        out += cv2.GaussianBlur(region * weight[..., None], (0, 0), s) / np.maximum(near, 1e-4)[..., None] * trust[
            ..., None]
        norm += trust
    return out + region * (1 - norm)[..., None]


def _saturation(rgb: np.ndarray) -> float:
    """How saturated a colour is (HSV saturation, 0..1)."""
    return float((rgb.max() - rgb.min()) / max(float(rgb.max()), 1.0))


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
    """(box, dark box, matte, lip colour, shadow) around an open mouth: a soft matte (0..1) of its
    dark interior between the lips with its teeth, where it is (None: nowhere), a smooth colour of
    the lips around it (a blur of the lip pixels only) and a matte of the dark interior alone, all
    over the box."""
    h, w = portrait.shape[:2]
    outer = np.concatenate([lm[L.LIPS_UPPER_OUTER], lm[L.LIPS_LOWER_OUTER]])
    m = int(np.ceil(0.1 * mw))
    x0, y0 = np.maximum(np.floor(outer.min(axis=0)).astype(int) - m, 0)
    x1, y1 = np.minimum(np.ceil(outer.max(axis=0)).astype(int) + m, (w, h))
    rgb = portrait[y0:y1, x0:x1].astype(np.float32)
    shift = np.array([x0, y0], np.float32)
    # (out to the mouth's corners: a smile's dark corners beyond the inner lip corners stayed as dark
    # dots beside lips closed at m, b, p)
    inner = cv2.fillPoly(np.zeros(rgb.shape[:2], np.uint8), [(lm[OPENING] - shift).round().astype(np.int32)], 1)
    inner = cv2.dilate(inner, np.ones((3, 3), np.uint8)).astype(bool)
    light = _luma(rgb)
    own = teeth[y0:y1, x0:x1] & inner
    level = float(np.percentile(light[own], 60)) if own.sum() > 20 else 200.0
    dark = np.clip((0.5 * level - light) / (0.2 * level), 0, 1) * inner
    # (its teeth too: rounded lips that gather the opening in pull the side teeth's pixels outside it)
    # (and a pixel around them: their anti-aliased edge)
    near = cv2.dilate(own.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) & inner
    # (and its rim, a pixel round it: the photo's anti-aliased edge between the dark and the lip,
    # half dark, stayed behind as a thin dark outline of the smile's opening beside rounded lips)
    matte = cv2.dilate(np.maximum(dark, near).astype(np.float32), np.ones((3, 3), np.uint8))
    matte = cv2.GaussianBlur(matte, (0, 0), 0.7).clip(0, 1)
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
    shadow = cv2.GaussianBlur(dark.astype(np.float32), (0, 0), 0.7).clip(0, 1)
    ys, xs = np.nonzero(matte > 0.02)
    dark = (x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1) if len(xs) else None
    return (int(x0), int(y0), int(x1), int(y1)), dark, matte, fill, shadow


def _dark_above(inside, split: np.ndarray, mw: float) -> np.ndarray:
    """Per point of the parting line (`split`, (n, 2)): how many rows straight above it are the photo's
    dark inside (`inside`: _interior_and_lips), up to a tenth of the mouth's width, smoothed."""
    (bx0, by0, _, _), _, _, _, shadow = inside
    h, w = shadow.shape
    rise = np.zeros(len(split), np.float32)
    for i, (x, y) in enumerate(split):
        col, row = int(np.rint(x)) - bx0, int(np.rint(y)) - 1 - by0
        if not (0 <= col < w and 0 <= row < h):
            continue
        # (from the first dark row within a few above the line: the photo's own parting row there
        # may be lighter, a lip's wet edge)
        start = next((k for k in range(4) if row - k >= 0 and shadow[row - k, col] > 0.5), None)
        if start is None:
            continue
        n = start
        while n < 0.1 * mw and row - n >= 0 and shadow[row - n, col] > 0.5:
            n += 1
        rise[i] = n
    # (no lone spikes: a column's dark speck is no corner)
    rise = cv2.GaussianBlur(cv2.erode(rise[None], np.ones((1, 3), np.uint8)), (0, 0), 1.0)[0]
    return np.maximum(rise - 1.0, 0.0)  # (a pixel short of the lip: the photo's own edge stays between them)


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


def _lips_colour(portrait: np.ndarray, lm: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """The median colour of the lips: inside their outline, outside the mouth's opening."""
    h, w = portrait.shape[:2]
    outline = np.concatenate([lm[L.LIPS_UPPER_OUTER], lm[L.LIPS_LOWER_OUTER][1:-1]]).round().astype(np.int32)
    lips = cv2.fillPoly(np.zeros((h, w), np.uint8), [outline], 1)
    inner = cv2.fillPoly(np.zeros((h, w), np.uint8), [lm[L.INNER_MOUTH].round().astype(np.int32)], 1)
    ring = lips.astype(bool) & ~cv2.dilate(inner, np.ones((3, 3), np.uint8)).astype(bool)
    return np.median(portrait[ring], axis=0).astype(np.float32) if ring.sum() > 20 else fallback
