"""Where the lips part and meet: the line a smile's lips part along (parting_line: below its own
upper teeth, so they stay with the upper jaw), how far apart the photo's lips are column by column
(lip_gap: its teeth and shade, however the mesh placed the lips) and the soft shadow where pressed
lips meet (paint_seam). The rig (runtime.face.rig) slides each lip as a whole across that gap at
m, b, p, so pressed lips keep the photo's own colour and thickness.
"""

from __future__ import annotations

import cv2
import numpy as np

from runtime.face import landmarks as L
from runtime.face.ease import smoothstep
from runtime.face.mouth import _teeth_mask, shows_teeth
from runtime.face.teeth import luma as _luma
from runtime.face.teeth import pixels_in as _pixels_in


def _upper_teeth_edge(teeth: np.ndarray, xs: np.ndarray, tops: np.ndarray, bottoms: np.ndarray) -> np.ndarray:
    """Per column x (between the inner lips' tops and bottoms there): one past the lowest row of
    the teeth hanging from the upper lip, NaN where there are none."""
    h, w = teeth.shape
    edge = np.full(len(xs), np.nan, np.float32)
    for i, (x, top, bottom) in enumerate(zip(xs, tops, bottoms, strict=True)):
        y0, y1 = int(np.clip(top, 0, h - 1)), int(np.clip(bottom + 1, 1, h))
        rows = np.flatnonzero(teeth[y0:y1, int(np.clip(x, 0, w - 1))])
        if len(rows) and rows[0] < 0.5 * (y1 - y0):  # a run of teeth hanging from the upper lip
            breaks = np.flatnonzero(np.diff(rows) > 2)
            last = rows[breaks[0]] if len(breaks) else rows[-1]
            if last - rows[0] + 1 >= max(2.0, 0.25 * (y1 - y0)):  # (not a glint on the lip's edge)
                edge[i] = y0 + last + 1.0
    return edge


def parting_line(portrait: np.ndarray, landmarks: np.ndarray, open_at_rest: bool) -> np.ndarray:
    """Where the lips part, (n, 2) left to right: between closed lips, or along the lower edge of
    the upper teeth a smile shows (so they stay with the upper jaw, and what is below them goes
    with the lower one)."""
    lm = landmarks[:, :2].astype(np.float32)
    upper, lower = lm[L.LIPS_UPPER_INNER], lm[list(reversed(L.LIPS_LOWER_INNER))]
    line = (upper + lower) / 2
    if not open_at_rest:
        return line
    teeth = _teeth_mask(portrait, lm)
    xs = np.arange(int(np.ceil(upper[0, 0])), int(upper[-1, 0]) + 1)
    tops = np.interp(xs, upper[:, 0], upper[:, 1])
    bottoms = np.interp(xs, lower[:, 0], lower[:, 1])
    edge = _upper_teeth_edge(teeth, xs, tops, bottoms)
    known = ~np.isnan(edge)
    if known.sum() < 0.3 * len(xs):
        return lower
    reach = max(1, round(0.015 * float(np.linalg.norm(lm[61] - lm[291]))))
    # A narrow find near a corner, apart from the others, is a glint on the lips, not a tooth.
    found = np.flatnonzero(known)
    for piece in np.split(found, np.flatnonzero(np.diff(found) > 2 * reach) + 1):
        outer = min(piece[0], len(xs) - 1 - piece[-1]) < 0.2 * len(xs)
        if outer and piece[-1] - piece[0] < 2 * reach and len(piece) < len(found):
            known[piece] = False
    # Between the teeth, missing columns (a dark gap) take their neighbours' edge; beside the
    # teeth found (the dark corners, side teeth in shade) it runs on level (held between the
    # lips). It passes below every tooth's tip, not into the dark gaps between the tips (a
    # closing: notches narrower than such a gap are filled, slopes kept; smoothed).
    edge = np.interp(xs, xs[known], edge[known]).astype(np.float32)
    # Beside the outermost teeth found (the dark corners, side teeth in shade) the line keeps the
    # height above the lower lip it has along the last teeth, down to nothing at the lips' corner
    # (a level line rose to the short last tooth at a corner and carried a sliver of it down with
    # the jaw).
    found = np.flatnonzero(known)
    k = max(3, len(xs) // 20)
    for ends, near, fade in ((slice(None, found[0]), found[:k], np.linspace(0, 1, found[0] + 1)[:-1]),
                             (slice(found[-1] + 1, None), found[-k:], np.linspace(1, 0, len(xs) - found[-1])[1:])):
        edge[ends] = bottoms[ends] - float(np.median(bottoms[near] - edge[near])) * fade
    # Where the photo's dark inside reaches past the last teeth, the line runs under it, no lower: the
    # lower lip below it goes with the jaw (the mesh's inner lip there lay on the lip, and a wedge of
    # the lower lip stayed beside the last tooth as a pink notch in the open mouth).
    edge = np.minimum(edge, _under_the_dark(portrait, xs, tops, bottoms, known, edge))
    edge = cv2.morphologyEx(edge[None], cv2.MORPH_CLOSE, np.ones((1, 2 * reach + 1), np.uint8),
                            borderType=cv2.BORDER_REPLICATE)[0]
    edge = cv2.GaussianBlur(edge[None], (0, 0), max(1.0, reach / 2))[0]
    edge = np.clip(edge, np.minimum(tops + 1, bottoms), bottoms)
    step = max(1, len(xs) // 40)
    pick = np.unique(np.r_[np.arange(0, len(xs), step), len(xs) - 1])
    line = np.stack([xs[pick].astype(np.float32), edge[pick]], axis=1)
    # The ends: the lips' inner corners.
    return np.concatenate([lower[:1], line, lower[-1:]]).astype(np.float32)


def _under_the_dark(portrait: np.ndarray, xs: np.ndarray, tops: np.ndarray, bottoms: np.ndarray,
                    teeth: np.ndarray, edge: np.ndarray) -> np.ndarray:
    """Per column beside the outermost teeth found: just under the lowest pixel of the photo's dark
    inside between the lips (darker than 60 % of the lower lip under it); elsewhere, and where
    there is none, `edge`."""
    out = edge.copy()
    found = np.flatnonzero(teeth)
    if not len(found):
        return out
    h = portrait.shape[0]
    light = portrait.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    for i in [*range(0, found[0]), *range(found[-1] + 1, len(xs))]:
        x, top, bottom = int(xs[i]), int(np.ceil(tops[i])), int(np.floor(bottoms[i]))
        if bottom - top < 2 or not 0 <= x < portrait.shape[1]:
            continue
        lip = float(np.median(light[min(h - 1, bottom + 1):min(h, bottom + 4), x]))
        dark = np.flatnonzero(light[top:bottom + 1, x] < 0.6 * lip)
        if len(dark):
            out[i] = min(edge[i], top + dark[-1] + 1.0)
    # (how far the line rises: a column's odd dark pixel is noise, and the rise changes by less
    # than a pixel per pixel along the mouth, as the line did before)
    rise = cv2.medianBlur(np.ascontiguousarray((edge - out)[None].astype(np.float32)), 5)[0]
    for _ in range(2):
        for order in (range(1, len(rise)), range(len(rise) - 2, -1, -1)):
            for i in order:
                j = i - 1 if order.step > 0 else i + 1
                rise[i] = min(rise[i], rise[j] + 0.5)
    return edge - rise


def lip_gap(portrait: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(n, 3) x, top, bottom per column between the inner lip corners: what lies between the lips
    in the photo (its teeth and dark interior as seen, not only where the mesh puts the lips), so
    the lips can be closed over all of it (m, b, p)."""
    lm = landmarks[:, :2].astype(np.float32)
    upper, lower = lm[L.LIPS_UPPER_INNER], lm[list(reversed(L.LIPS_LOWER_INNER))]
    mw = float(np.linalg.norm(lm[61] - lm[291]))
    xs = np.arange(int(np.ceil(upper[0, 0])), int(upper[-1, 0]) + 1)
    tops = np.interp(xs, upper[:, 0], upper[:, 1])
    bottoms = np.interp(xs, lower[:, 0], lower[:, 1])
    if not len(xs):
        return np.stack([xs, tops, np.maximum(bottoms, tops)], axis=1).astype(np.float32)
    if not shows_teeth(portrait, landmarks):
        # (out to the mouth's corners: a smile's dark corners beyond the inner lips' stayed as dark
        # dots beside the closed lips)
        wide = np.arange(int(np.ceil(lm[61, 0])), int(lm[291, 0]) + 1)
        near = (wide >= xs[0]) & (wide <= xs[-1])
        tops, bottoms = np.interp(wide, xs, tops), np.interp(wide, xs, bottoms)
        seen, low = _glimpse(portrait, lm, wide, tops, bottoms)
        if (bottoms - tops).max() >= (low - seen).max():
            return np.stack([xs, tops[near], np.maximum(bottoms, tops)[near]], axis=1).astype(np.float32)
        return np.stack([wide, seen, np.maximum(low, seen)], axis=1).astype(np.float32)
    light = _luma(portrait.astype(np.float32))
    lips = _pixels_in(portrait, np.concatenate([lm[L.LIPS_UPPER_OUTER], lm[L.LIPS_LOWER_OUTER][1:-1]]))
    level = float(np.median(_luma(lips))) if len(lips) > 20 else 120.0
    teeth = _teeth_mask(portrait, lm)
    between = teeth | (light < 0.5 * level)
    lab = cv2.cvtColor(portrait.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    like_upper = _lip_like(lab, lm, L.LIPS_UPPER_OUTER, L.LIPS_UPPER_INNER, teeth) & ~between
    like_lower = _lip_like(lab, lm, L.LIPS_LOWER_OUTER, L.LIPS_LOWER_INNER, teeth) & ~between
    like_teeth = _teeth_like(lab, lm, teeth) & (light > 0.6 * level)
    reach = round(0.06 * mw)
    deep = round(0.08 * mw)
    h, w = light.shape
    below = np.zeros(len(xs), np.float32)
    for i, x in enumerate(xs):
        x = int(np.clip(x, 0, w - 1))
        y0, y1 = int(max(0, tops[i] - reach)), int(min(h, bottoms[i] + reach + 1))
        rows = np.flatnonzero(between[y0:y1, x])
        if not len(rows):
            continue
        # Teeth or shade beyond where the mesh puts the lips: the gap reaches there. A wide smile's
        # mesh lips may also sit inside the lips: what still looks like the lip (its colour, not
        # the teeth's) between the mesh's line and the teeth or shade is lip, not gap.
        first, last = y0 + rows[0], y0 + rows[-1] + 1.0
        tops[i], bottoms[i] = min(tops[i], first), max(bottoms[i], last)
        while bottoms[i] > last and like_lower[int(np.clip(bottoms[i] - 1, 0, h - 1)), x]:
            bottoms[i] -= 1
        while tops[i] < first and like_upper[int(np.clip(tops[i], 0, h - 1)), x]:
            tops[i] += 1
        # Lower teeth the mask missed (in shade, behind the lower lip's edge) are nearer the teeth's
        # colour than the lip's: the gap reaches over them too, so the lip does not carry them up.
        # (past a strip of gum or tongue in front of them)
        y = int(np.clip(bottoms[i], 0, h - 1))
        found = np.flatnonzero(like_teeth[y:y + deep, x])
        if len(found) >= 2:
            run = found[:1 + int(np.argmax(np.r_[np.diff(found) > 2, True]))]
            below[i] = run[-1] + 1.0
    # (a row of lower teeth spans many columns; a glint on the lower lip a few: the reach over them
    # is the running median of its neighbours' over a sixth of the mouth)
    bottoms = bottoms + _running_median(below, max(1, round(0.08 * mw)))
    # Smooth along the mouth: a running median (no spikes where a gap between teeth or a glint on a
    # lip was found), then a blur.
    k = max(1, round(0.03 * mw))
    # The lower lip's edge is smooth: where the gap's bottom rises for a stretch narrower than a
    # quarter of the mouth (a strip of tongue or gum in front of lower teeth in shade, found as lip), the lip's edge
    # lies as low as beside it; else the teeth behind the strip come up to the seam at m, b, p.
    reach = max(1, round(0.12 * mw))
    window = np.lib.stride_tricks.sliding_window_view(np.pad(bottoms, reach, mode="edge"), 2 * reach + 1)
    lowest = np.minimum(window[:, :reach + 1].max(axis=1), window[:, reach:].max(axis=1))
    bottoms = np.maximum(bottoms, lowest).astype(np.float32)
    # Lower teeth under the lip's edge found that way (behind that strip of tongue or gum): the gap
    # reaches over them too, where they show over more than a glint's width, else the lower lip
    # carries their tips up to the seam at m, b, p (grey fangs between the shut lips).
    tops, bottoms = (cv2.GaussianBlur(_running_median(v, k)[None], (0, 0), 2.0)[0] for v in (tops, bottoms))
    under = _running_median(_teeth_under(like_teeth, xs, bottoms, deep), max(1, round(0.02 * mw)))
    bottoms = bottoms + cv2.GaussianBlur(under[None], (0, 0), 1.0)[0]
    return np.stack([xs, tops, bottoms], axis=1).astype(np.float32)


def _glimpse(portrait: np.ndarray, lm: np.ndarray, xs: np.ndarray, tops: np.ndarray,
             bottoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tops, bottoms) of the gap between lips the mesh puts together where the photo shows a thin
    row of teeth between them (a smile in a small, soft photo): per column, a run lighter than the
    lips and less red, with a dark band of shade above it, up to the upper lip. The mesh lays its
    upper inner lip on the teeth, so at m, b, p the lips were pressed together below the shade,
    which stayed as a dark line over a pale one (the bar photo). Unchanged where there is none."""
    mw = float(np.linalg.norm(lm[61] - lm[291]))
    rgb = portrait.astype(np.float32)
    light, pink = _luma(rgb), (rgb[..., 0] - rgb[..., 1]) - 0.5 * (rgb[..., 1] - rgb[..., 2])
    lips = _pixels_in(portrait, np.concatenate([lm[L.LIPS_UPPER_OUTER], lm[L.LIPS_LOWER_OUTER][1:-1]]))
    lower = _pixels_in(portrait, np.concatenate([lm[L.LIPS_LOWER_OUTER], lm[L.LIPS_LOWER_INNER][::-1]]))
    if len(lips) < 20 or len(lower) < 20:
        return tops, bottoms
    level = float(np.median(_luma(lips)))
    # (the lower lip's red: the upper lip's outline takes in skin above it)
    red = float(np.median((lower[:, 0] - lower[:, 1]) - 0.5 * (lower[:, 1] - lower[:, 2])))
    reach = max(2, round(0.08 * mw))
    h, w = light.shape
    top, bottom = np.full(len(xs), np.nan, np.float32), np.full(len(xs), np.nan, np.float32)
    for i, x in enumerate(xs):
        x = int(np.clip(x, 0, w - 1))
        y0, y1 = int(max(reach, tops[i] - reach // 2)), int(min(h - 1, bottoms[i] + 2))
        if y1 <= y0:
            continue
        p = y0 + int(np.argmax(light[y0:y1, x]))
        if light[p, x] < 1.1 * level or pink[p, x] > 0.8 * red:
            continue
        a = p - reach + int(np.argmin(light[p - reach:p, x]))
        if light[a, x] > 0.75 * light[p, x]:
            continue
        t = a
        while t > a - reach and light[t - 1, x] < 0.5 * (light[a, x] + level):
            t -= 1
        b = p
        while b < p + reach and light[b + 1, x] > 0.5 * (light[p, x] + level):
            b += 1
        top[i], bottom[i] = t, b + 1.0
    found = ~np.isnan(top)
    if found.sum() < 0.4 * len(xs):
        return tops, bottoms
    k = max(1, round(0.03 * mw))
    top, bottom = (np.interp(xs, xs[found], v[found]).astype(np.float32) for v in (top, bottom))
    top, bottom = (cv2.GaussianBlur(_running_median(v, k)[None], (0, 0), 2.0)[0] for v in (top, bottom))
    # (fading into the corners, where the lips meet)
    u = np.abs(xs - 0.5 * (xs[0] + xs[-1])) / max(0.5 * (xs[-1] - xs[0]), 1.0)
    fade = smoothstep((1.0 - u) / 0.1)
    return (np.minimum(tops, tops + (top - tops) * fade).astype(np.float32),
            np.maximum(bottoms, bottoms + (bottom - bottoms) * fade).astype(np.float32))


def _teeth_under(like_teeth: np.ndarray, xs: np.ndarray, bottoms: np.ndarray, deep: int) -> np.ndarray:
    """Per column: how far below `bottoms` a run of tooth-like pixels (`like_teeth`) reaches, within
    `deep` rows (0: none)."""
    h, w = like_teeth.shape
    out = np.zeros(len(xs), np.float32)
    for i, x in enumerate(xs):
        y = int(np.clip(bottoms[i], 0, h - 1))
        found = np.flatnonzero(like_teeth[y:y + deep, int(np.clip(x, 0, w - 1))])
        if len(found) >= 2:
            out[i] = found[:1 + int(np.argmax(np.r_[np.diff(found) > 2, True]))][-1] + 1.0 + y - bottoms[i]
    return np.maximum(out, 0.0)


def _lip_like(lab: np.ndarray, lm: np.ndarray, outer: list, inner: list, teeth: np.ndarray) -> np.ndarray:
    """Pixels nearer in colour (Lab) to one lip (the median of the mesh's lip) than to the teeth,
    and about as red (teeth in shade are as dark as a lip, but grey)."""
    ring = np.concatenate([lm[outer], lm[inner][::-1]])
    mask = cv2.fillPoly(np.zeros(lab.shape[:2], np.uint8), [ring.round().astype(np.int32)], 1).astype(bool)
    if mask.sum() < 10 or teeth.sum() < 10:
        return np.zeros(lab.shape[:2], bool)
    lip, white = np.median(lab[mask & ~teeth], axis=0), np.median(lab[teeth], axis=0)
    red = lab[..., 1] > white[1] + 0.6 * (lip[1] - white[1])
    return red & (np.linalg.norm(lab - lip, axis=-1) < np.linalg.norm(lab - white, axis=-1))


def _teeth_like(lab: np.ndarray, lm: np.ndarray, teeth: np.ndarray) -> np.ndarray:
    """Pixels nearer in redness (Lab a*) to the teeth the mask found than to the lower lip (teeth in
    shade are as dark as a lip, but not red)."""
    ring = np.concatenate([lm[L.LIPS_LOWER_OUTER], lm[L.LIPS_LOWER_INNER][::-1]])
    mask = cv2.fillPoly(np.zeros(lab.shape[:2], np.uint8), [ring.round().astype(np.int32)], 1).astype(bool)
    if mask.sum() < 10 or teeth.sum() < 10:
        return np.zeros(lab.shape[:2], bool)
    lip, white = np.median(lab[mask & ~teeth], axis=0), np.median(lab[teeth], axis=0)
    return lab[..., 1] < white[1] + 0.45 * (lip[1] - white[1])


def paint_seam(frame: np.ndarray, seam: np.ndarray, amount: float, mouth_width: float) -> None:
    """Where pressed lips meet (`seam`: (n, 2) left to right): a soft shadow line, darkest in the
    middle of the mouth, fading into the corners (`amount` 0..1: how closed the lips are)."""
    if amount < 0.02 or len(seam) < 2:
        return
    h, w = frame.shape[:2]
    x0, x1 = max(0, int(np.ceil(seam[0, 0]))), min(w, int(seam[-1, 0]) + 1)
    if x1 - x0 < 2:
        return
    xs = np.arange(x0, x1, dtype=np.float32)
    ys = np.interp(xs, seam[:, 0], seam[:, 1])
    sigma = max(1.1, 0.012 * mouth_width)
    y0, y1 = max(0, int(ys.min() - 5 * sigma)), min(h, int(np.ceil(ys.max() + 5 * sigma)) + 1)
    if y1 - y0 < 2:
        return
    u = np.abs(xs - (seam[0, 0] + seam[-1, 0]) / 2) / max(0.5 * (seam[-1, 0] - seam[0, 0]), 1.0)
    # (faded out well before the seam's ends: where a smile's corners were, a dark line on out to
    # them drew the smile's outline beside closed lips, a grey squiggle into the cheeks)
    # (darkest over the middle of the mouth: a closed mouth's own seam is 40-50 % as light as its lips;
    # darkened by only a quarter there, a smile's pressed lips read as wiped out)
    depth = amount * (0.25 * (1 - 0.5 * u ** 2) + 0.25 * smoothstep((0.5 - u) / 0.2)) * smoothstep((0.9 - u) / 0.35)
    yy = np.arange(y0, y1, dtype=np.float32)[:, None]
    region = frame[y0:y1, x0:x1]
    # The lips meet along a soft line: across the seam the step between the two lips (a warp's
    # pixel step, jagged along a curve) is blurred over a pixel or two.
    rgb = region.astype(np.float32)
    near = (amount * np.exp(-0.5 * ((yy - ys) / max(1.0, sigma)) ** 2) * smoothstep((1 - u) / 0.1))[..., None]
    rgb += (cv2.GaussianBlur(rgb, (0, 0), sigmaX=0.6, sigmaY=1.2) - rgb) * near
    # (the shadow sits a little below the line: the upper lip's edge overhangs the lower one)
    # (as dark as a closed mouth's own seam in these photos, and so a shadow some pixels wide: a
    # thin line that dark reads as drawn)
    shade = 1 - depth * np.exp(-0.5 * ((yy - ys - 0.3 * sigma) / (1.2 * sigma)) ** 2)
    region[:] = (rgb * shade[..., None] + 0.5).clip(0, 255).astype(np.uint8)


def _running_median(values: np.ndarray, k: int) -> np.ndarray:
    """Median over 2k+1 neighbours (edges repeated)."""
    window = np.lib.stride_tricks.sliding_window_view(np.pad(values, k, mode="edge"), 2 * k + 1)
    return np.median(window, axis=1).astype(np.float32)
