"""Rounded lips (o, u, w): the finished mouth squeezed in towards its middle, its lips made taller.

Rounding the lips in the rig's linear fields pulled the corners in while the jaw's opening, built
where the lips part at rest, stayed a lens from corner to corner: the O read as a smaller, V-shaped
A, and moving the lip line itself tore the photo's teeth. This is a second, smooth warp of the
frame after the lips have parted and the mouth is painted (FaceRenderer._pucker): the opening, the
teeth and the lips round it narrow together into an oval, and the cheeks beside the mouth take up
the stretch.
"""

from __future__ import annotations

import cv2
import numpy as np

from runtime.face import landmarks as L
from runtime.face.ease import smoothstep

GATHER, THICKEN = 0.45, 0.25
"""Rounded lips (lip_round 1): how far the mouth is drawn in towards its middle (a fraction of the
distance) and how much taller the lips grow about the mouth line (Rig.pucker)."""


def pucker(b, gather: float = GATHER, thicken: float = THICKEN):
    """(box, displacement) of rounded lips pushed forward (o, u, w), as a squeeze of the finished
    mouth (runtime.face.rig.Rig.pucker; `b` is the rig's builder):
    the lips, their corners and the opening between them are drawn in towards the middle by
    `gather` (a fraction of their distance from it), and grow taller about the mouth line by
    `thicken` (pushed out, the lips show more of their red). Smooth everywhere, applied after
    the lips have parted and the mouth is painted: the opening narrows into an oval with the
    lips round it (no second parting, nothing torn), the cheeks beside the mouth take up the
    stretch."""
    xy, w = b.lm, b.mouth_w
    cx, cy = (xy[61] + xy[291]) / 2
    box, xx, yy = b.region(cx - 1.2 * w, cy - 0.8 * w, cx + 1.2 * w, cy + 1.0 * w)
    window = b.window(box, xx, yy)
    line = b.mouth_line(xx, press=True)
    top = np.interp(xx, *_outline(xy, L.LIPS_UPPER_OUTER))
    bottom = np.interp(xx, *_outline(xy, L.LIPS_LOWER_OUTER))
    x = xx - cx
    across = 1.0 - smoothstep((np.abs(x) - 0.45 * w) / (0.7 * w) + 0.5)
    # (the lips' band and the skin just above and below it; the chin and the nose stay)
    band = (smoothstep((yy - (top - 0.1 * w)) / (0.3 * w) + 0.5)
            * (1.0 - smoothstep((yy - (bottom + 0.1 * w)) / (0.45 * w) + 0.5)))
    d = np.zeros((*xx.shape, 2))
    d[..., 0] = -gather * x * across * band * window
    dy = yy - line
    d[..., 1] = thicken * dy * np.exp(-((dy / (0.28 * w)) ** 2) / 2) * across * window
    return box, d


def _outline(xy, idx):
    """An outline's points as (x, y) arrays ordered left to right (for np.interp)."""
    pts = xy[idx]
    order = np.argsort(pts[:, 0])
    return pts[order, 0], pts[order, 1]


def squeeze(frame: np.ndarray, f, amount: float, inner: np.ndarray, opened, teeth_end: float,
            mouth_w: float, own_teeth=None, upper_lip: float = 0.0, nose: float | None = None,
            arch: float = 1.0) -> None:
    """Apply rounded lips (`f`: Rig.pucker at `amount`) to the finished frame in place, the teeth
    clipped by the narrower opening, not squeezed with it: the lips and the opening between them
    narrow into an oval, while the upper teeth (and the mouth just below them) only move with the
    upper lip's middle, keeping their own width and height (squeezed with the lips they grew tall
    and thin, a caricature). `inner`: the lips' opening (mouth.OPENING) before the squeeze;
    `opened`: the painted opening (MouthPainter.opened); `teeth_end`: y of the upper teeth's
    lower edge in the middle before the squeeze. `own_teeth`: (portrait, outline of its teeth,
    the upper lip's inner middle) of a portrait that shows its teeth: they are taken from the
    portrait itself, hanging from the upper lip's middle (the lips' fields had narrowed them).
    `upper_lip`: the upper lip's height in the middle at rest (pixels; 0: ARCH_LIP mouth widths),
    drawn down over the ends of the opening (_arch); `nose`: y of the nostrils' lowest point in
    the frame (None: unknown), which the lip's move never reaches; `arch` (0..1): how far it is
    drawn down."""
    h, w = f.d.shape[:2]
    yy, xx = np.mgrid[f.y0:f.y1, f.x0:f.x1].astype(np.float32)
    mx, my = xx - np.float32(amount) * f.d[..., 0], yy - np.float32(amount) * f.d[..., 1]
    before = frame[f.y0:f.y1, f.x0:f.x1].copy()
    squeezed = cv2.remap(frame, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
    if amount < 0.2:  # (barely rounded, as round an m, b or p: the teeth hardly narrow)
        frame[f.y0:f.y1, f.x0:f.x1] = squeezed
        return
    # The opening before the squeeze where the squeeze takes it: the oval the teeth are seen
    # through. It is what was painted, and above it the lips' inner outline (the photo's own
    # teeth) in the columns that were painted (beyond them, out to the corners, the lips meet).
    hole = np.zeros((h, w), np.float32)
    if opened is not None:
        ox, oy, matte = opened
        x0, y0 = max(ox, f.x0), max(oy, f.y0)
        x1, y1 = min(ox + matte.shape[1], f.x1), min(oy + matte.shape[0], f.y1)
        if x1 > x0 and y1 > y0:
            hole[y0 - f.y0:y1 - f.y0, x0 - f.x0:x1 - f.x0] = matte[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
    lips = np.zeros((h, w), np.uint8)
    cv2.fillPoly(lips, [np.round((inner - [f.x0, f.y0]) * 4).astype(np.int32)], 255, cv2.LINE_AA, shift=2)
    columns = np.clip(hole.max(axis=0, keepdims=True) * 1.5 - 0.5, 0, 1)
    teeth = lips.astype(np.float32) / 255.0 * columns
    n = len(inner) // 2
    mid = inner[n // 2] if n > 1 else inner.mean(axis=0)  # (the upper lip's inner edge, in the middle)
    top = _moved(f, amount, mid)
    shift = top - mid
    # the rows of the teeth and a little below them, fading into the squeezed mouth's shade; below
    # the teeth only where the squeezed mouth was painted (the unsqueezed dark beside it widened the O)
    end = max(teeth_end + shift[1], float(_moved(f, amount, np.array([mid[0], teeth_end]))[1])) + 0.02 * mouth_w
    rows = 1.0 - smoothstep((yy[:, :1] - end) / (0.06 * mouth_w))
    below = 1.0 - smoothstep((yy[:, :1] - (teeth_end + shift[1])) / max(1.0, 0.02 * mouth_w))
    weight = np.maximum(_seen(hole, f, mx, my), _seen(teeth, f, mx, my) * below) * rows
    if float(weight.max()) < 0.02:
        frame[f.y0:f.y1, f.x0:f.x1] = squeezed
        return
    rigid = cv2.warpAffine(before, np.float32([[1, 0, shift[0]], [0, 1, shift[1]]]), (w, h),
                           flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if own_teeth is not None:
        rigid = _own_teeth(rigid, f, own_teeth, top)
    # (under the teeth, down to where the squeezed teeth ended, whatever of them is lighter than the
    # mouth there goes: their squeezed edge showed as a white fleck under the teeth)
    lighter = np.clip((_luma(squeezed) - _luma(rigid) - 10.0) / 30.0, 0, 1)
    weight = np.maximum(weight, _seen(teeth, f, mx, my) * rows * (1 - below) * lighter)[..., None]
    out = squeezed.astype(np.float32) * (1 - weight) + rigid.astype(np.float32) * weight
    lip = upper_lip if upper_lip > 1.0 else ARCH_LIP * mouth_w
    ceiling = -np.inf if nose is None else nose + 0.03 * mouth_w - f.y0
    frame[f.y0:f.y1, f.x0:f.x1] = _arch((out + 0.5).astype(np.uint8), weight[..., 0], amount, lip,
                                        ARCH_REACH * mouth_w, ceiling, arch)


ARCH_LIP = 0.08
"""The upper lip's height where the landmarks do not give it (mouth widths): the least height of
the band that stretches down over the teeth's ends at an O (_cover)."""
ARCH_SMILE = 0.35
"""A smile (the `smile` parameter) this strong leaves the O's upper lip where it is (runtime.face.render):
beside a smile's lifted corners a lip drawn down bent into a hook (a blind review preferred the flat
top then)."""
ARCH_WIDTH, ARCH_MEET, ARCH_REACH = 0.75, 0.4, 0.1
"""At an O the upper lip's arch is this much as wide as the rigid teeth's matte, its ends this
much of the way down it, and the skin above the lip takes up its move over at most this much of
the mouth's width (more drew the nostrils down with the lip). (The arch leaves the middle teeth
whole: covering their top too, test_face_teeth_o::test_teeth_at_an_o_keep_their_width no longer
found the photo's teeth at the O.)"""


def _arch(box: np.ndarray, opening: np.ndarray, amount: float, lip: float, reach: float,
          ceiling: float = -np.inf, strength: float = 1.0) -> np.ndarray:
    """The squeezed mouth `box` with its upper lip drawn down over the ends of the opening, so
    its top is an arch, not a smile's straight row of teeth from corner to corner: the rounded
    upper lip covers the side teeth. `opening`: the matte of what squeeze hangs rigidly under the
    upper lip (the teeth and the mouth just below them, 0..1 over the box): its top is the lip's
    inner edge, its bottom a little below the teeth. The arch is half an ellipse ARCH_WIDTH as wide
    as that matte, from its top in the middle down to ARCH_MEET of the way to its bottom at the
    ends. `lip`: the upper lip's height (pixels); `reach`: how far above the lip the skin takes
    up its move (pixels), never above `ceiling` (the nostrils: a smiling upper lip lies close
    under them); `strength` (0..1): how far the lip comes down."""
    if strength <= 0.0:  # (a smiling O: nothing to draw down)
        return box
    h, w = opening.shape
    cols = np.flatnonzero((opening > 0.5).any(axis=0))
    if len(cols) < 6:
        return box
    top = _first_row(opening)
    left, right = float(cols[0]), float(cols[-1])
    middle = round((left + right) / 2)
    near = slice(max(0, middle - 2), middle + 3)
    bottom = h - 1 - _first_row(opening[::-1, near])  # (only in the middle: it sets the arch's height)
    upper, lower = float(np.median(top[near])), float(np.median(bottom))
    half_h, half_w = (lower - upper) / 2, ARCH_WIDTH * ((right - left) / 2 + 1)
    if half_h < 2:
        return box
    x = np.arange(w, dtype=np.float32)
    rise = np.sqrt(np.clip(1 - ((x - (left + right) / 2) / half_w) ** 2, 0, 1))
    meet = upper + 2 * half_h * ARCH_MEET
    # (past the opening's ends, where the lips meet, the lip's move fades out over half the arch's
    # half width: cut off there, the corners of the opening stayed as dark hooks beside it; faded
    # over a quarter, the skin beside a smile's corner showed a step)
    beyond = np.maximum(left - x, x - right)
    weight = strength * smoothstep((amount - 0.2) / 0.5) * (1 - smoothstep(beyond / (0.5 * half_w)))
    return _cover(box, top, cols, meet - (meet - upper) * rise, lip, weight, reach, ceiling)


def _first_row(matte: np.ndarray) -> np.ndarray:
    """Per column, where a matte first reaches 0.5 from the top (rows, to a fraction of a pixel,
    so the lips moved to it follow the opening smoothly from frame to frame; the height for a
    column it never reaches)."""
    h = matte.shape[0]
    row = np.argmax(matte > 0.5, axis=0)
    above = matte[np.maximum(row - 1, 0), np.arange(matte.shape[1])]
    at = matte[row, np.arange(matte.shape[1])]
    part = np.where(at > above, (0.5 - above) / np.maximum(at - above, 1e-6), 1.0)
    return np.where((matte > 0.5).any(axis=0), np.where(row > 0, row - 1 + part, 0.0), h).astype(np.float32)


def _cover(box: np.ndarray, top: np.ndarray, cols: np.ndarray, line: np.ndarray, lip: float,
           weight: np.ndarray, reach: float, ceiling: float) -> np.ndarray:
    """`box` with the lip above the opening (`top`: where the opening begins per column, read in
    `cols`) stretched down to `line` where the opening begins above it (times `weight`), with the
    skin above it up to `reach`, never above `ceiling`: the band grows evenly, at most to twice
    its height (where there is less room the lip comes down less); what the lip comes down over
    is covered."""
    h, w = box.shape[:2]
    # (the edge beyond the opening's ends held at its last height, so the blur does not bend it there)
    edge = np.interp(np.arange(w), cols, top[cols]).astype(np.float32)
    edge = cv2.GaussianBlur(edge.reshape(1, -1), (0, 0), 1.5).reshape(-1)
    # (the lip (its height at rest) and the skin above it, up to `reach` and never above the
    # ceiling, stretch evenly; a lip moved whole over a thin band folded it, and drew the nostrils
    # down into the lip)
    band = np.clip(edge - ceiling, 0.0, lip + reach)
    drop = np.minimum(np.clip(line - edge, 0, None) * weight, band)
    # (smoothed after the cap: capped, the move rose in a few columns, a step in the skin)
    drop = cv2.GaussianBlur(drop.reshape(1, -1).astype(np.float32), (0, 0), 3.0).reshape(-1)
    drop = np.minimum(drop, band)
    if float(drop.max()) < 0.5:
        return box
    start = edge - band
    # (only the rows the lip's stretch reaches are touched)
    moving = drop > 0.05
    y0 = int(np.clip(np.floor(start[moving].min()) - 1, 0, h))
    y1 = int(np.clip(np.ceil((edge + drop)[moving].max()) + 2, y0, h))
    rows = np.arange(y0, y1, dtype=np.float32)[:, None]
    stretch = band / np.maximum(band + drop, 1e-3)
    source = np.where((rows >= start) & (rows <= edge + drop), start + (rows - start) * stretch, rows)
    source = source.astype(np.float32)
    xs = np.broadcast_to(np.arange(w, dtype=np.float32), (y1 - y0, w))
    shifted = cv2.remap(box, np.ascontiguousarray(xs), np.ascontiguousarray(source), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    cover = (np.clip(edge + drop + 0.5 - rows, 0, 1) * (rows >= start - 1.0))[..., None]
    out = box.copy()
    out[y0:y1] = (box[y0:y1].astype(np.float32) * (1 - cover) + shifted * cover + 0.5).astype(np.uint8)
    return out


def _luma(rgb: np.ndarray) -> np.ndarray:
    """Luminance (BT.601) of RGB pixels."""
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def _seen(mask: np.ndarray, f, mx: np.ndarray, my: np.ndarray) -> np.ndarray:
    """A matte of the frame before the squeeze (over the box) where the squeeze takes it, a pixel
    inside its edge (the squeezed lips keep their own anti-aliased edge)."""
    seen = cv2.remap(mask, mx - np.float32(f.x0), my - np.float32(f.y0), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return cv2.GaussianBlur(np.clip(seen * 1.6 - 0.6, 0, 1), (0, 0), 0.8)


def _moved(f, amount: float, point: np.ndarray) -> np.ndarray:
    """Where the squeeze shows a point of the frame before it (the frame at p shows p - r d(p))."""
    q = np.asarray(point, np.float64)
    p = q.copy()
    h, w = f.d.shape[:2]
    for _ in range(4):
        ix = int(np.clip(round(p[0]) - f.x0, 0, w - 1))
        iy = int(np.clip(round(p[1]) - f.y0, 0, h - 1))
        p = q + amount * f.d[iy, ix]
    return p


def _own_teeth(rigid: np.ndarray, f, own_teeth, top: np.ndarray) -> np.ndarray:
    """`rigid` (the box of the frame) with the portrait's own teeth hung from `top`, the upper
    lip's inner middle where the frame shows it."""
    portrait, outline, mid = own_teeth
    h, w = rigid.shape[:2]
    shift = np.asarray(top, np.float32) - np.asarray(mid, np.float32)
    m = np.float32([[1, 0, shift[0] - f.x0], [0, 1, shift[1] - f.y0]])
    teeth = cv2.warpAffine(portrait, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    band = np.zeros((h, w), np.uint8)
    where = (outline + shift - [f.x0, f.y0]) * 4
    cv2.fillPoly(band, [np.round(where).astype(np.int32)], 255, cv2.LINE_AA, shift=2)
    band = cv2.GaussianBlur(band, (0, 0), 0.7).astype(np.float32)[..., None] / 255.0
    return (rigid * (1 - band) + teeth * band + 0.5).astype(np.uint8)
