"""Lips apart in the photo closing at m, b, p: each lip slides over what lies between them.

The teeth and the mouth between the lips stay where they are (the upper teeth are fixed to the
upper jaw): the upper lip comes down over them and the lower lip rises over them, each as a whole
(keeping its colour and thickness), until they meet. Part way, what is still uncovered is the
photo's own teeth at their own place and size, never a squashed or shifted row of them (a row of
tooth roots between the lips reads as a jagged crack or a row of pebbles). The skin above and
below stretches over a few gaps' height, so the map stays one-to-one. Where a lip's edge lies
depends on how far the lips have closed, so the field is computed per frame over a small box.
"""

from __future__ import annotations

import cv2
import numpy as np

from runtime.face import landmarks as L
from runtime.face.ease import smoothstep

MEET = 0.4
"""Where lips apart in the photo meet at m, b, p: this far down the gap between them (the lower lip,
carried by the jaw, travels further)."""
JAW_FIRST = 0.55
"""The jaw has brought the lower lip up to the teeth by this far into a closing (lip_press)..."""
LIPS_AFTER = 0.0
"""...and the lips start sliding over the teeth from this far on (they meet at 1). (From the start,
while the jaw still rises: with the jaw up by 0.4 and the lips waiting until 0.1, the frame before
a closure showed a smiling photo's own open smile, and the lips went from it to shut in one frame.)"""


def in_order(params: dict[str, float]) -> dict[str, float]:
    """The parameters of a closing at m, b, p in the order real lips close over teeth: the jaw rises
    first (the dark gap under the teeth closes while they still show whole), then the lips slide
    over the teeth from both sides until they meet; reopening, the same backwards. Applied at once
    (the upper lip covering the teeth while the jaw still held the mouth open below them), a frame
    showed a thin jagged strip of tooth tips over a dark bar, and the lips nearly meeting above a
    slit the jaw held open drew two dark lines."""
    v = float(np.clip(params.get("lip_press", 0.0), 0.0, 1.0))
    if v < 1e-3:
        return params
    out = dict(params)
    out["jaw_open"] = params.get("jaw_open", 0.0) * (1.0 - float(smoothstep(v / JAW_FIRST)))
    out["lip_press"] = float(np.clip((v - LIPS_AFTER) / (1.0 - LIPS_AFTER), 0.0, 1.0))
    return out

class Press:
    """The lips' closing over the gap between them as a warp at any amount 0..1 (m, b, p)."""

    def __init__(self, lm: np.ndarray, mouth_w: float, gap: np.ndarray, region) -> None:
        """`gap`: (n, 3) x, top, bottom of what lies between the lips (runtime.face.lips.lip_gap);
        `region`: the rig's region(x0, y0, x1, y1) -> (box, xx, yy)."""
        w = self.mw = float(mouth_w)
        gap = gap[np.argsort(gap[:, 0])]
        cx, cy = (lm[61] + lm[291]) / 2
        # (reaching well below the lips: room for the chin to stretch over)
        self.box, xx, yy = region(cx - 1.2 * w, cy - 0.8 * w, cx + 1.2 * w, cy + 1.3 * w)
        x = xx[0]
        inside = (x >= gap[0, 0]) & (x <= gap[-1, 0])
        top, bottom = np.interp(x, gap[:, 0], gap[:, 1]), np.interp(x, gap[:, 0], gap[:, 2])
        # (tapering into the corners: no step in the lips where the fold ends)
        ends = smoothstep((x - gap[0, 0]) / (0.05 * w)) * smoothstep((gap[-1, 0] - x) / (0.05 * w))
        opening = np.where(inside, np.maximum(bottom - top, 0.0), 0.0) * ends
        meet = top + MEET * opening
        keep = opening > 0.5
        self.seam = np.stack([x[keep], meet[keep]], axis=1).astype(np.float32)
        """(n, 2) where the lips meet when pressed, left to right."""
        # (a pixel past each lip's edge: the lips overlap a little, no sliver of teeth between them)
        # (each lip rolls in a little further: the rows next to what was found between the lips, often
        # teeth in shade that look like lip, go under the other lip, not onto the seam)
        roll = np.minimum(0.2 * opening, 0.025 * w)
        self.down = np.where(keep, MEET * opening + 1.0 + 0.5 * roll, 0.0)
        """Per column: how far the upper lip comes down when shut."""
        self.up = np.where(keep, (1 - MEET) * opening + 1.0 + roll, 0.0)
        """Per column: how far the lower lip rises when shut."""
        # The upper lip's inner edge is soft in a photo: the rows of it nearest the teeth are light
        # with them. It slides down without those rows (they stay with the teeth, under it), else
        # it carries a pale rim of tooth roots down (pebbles along the lip).
        soft = np.where(keep, np.minimum(max(1.5, 0.025 * w), 0.3 * opening), 0.0)
        top, self.down = top - soft, self.down + soft
        upper_t = np.maximum(top - _outline(lm, L.LIPS_UPPER_OUTER, x), 1.0)
        lower_t = np.maximum(_outline(lm, L.LIPS_LOWER_OUTER, x) - bottom, 1.0)
        self._top, self._bottom, self._meet = (a[None].astype(np.float32) for a in (top, bottom, meet))
        self._upper_t, self._lower_t = upper_t[None].astype(np.float32), lower_t[None].astype(np.float32)
        # The skin above and below stretches over a reach that grows with the lip's travel, long
        # enough that it is never stretched to more than about 1.6 times (over 1.8 travels a beard
        # under the lower lip was drawn out into vertical streaks), within the field's region.
        room_down = np.maximum(self.box[3] - 8.0 - _outline(lm, L.LIPS_LOWER_OUTER, x), 3.0)
        room_up = np.maximum(_outline(lm, L.LIPS_UPPER_OUTER, x) - self.box[1] - 8.0, 3.0)
        self._reach_up = np.minimum(3.5 * self.down + 3.0, room_up)[None].astype(np.float32)
        self._reach_down = np.minimum(3.5 * self.up + 3.0, room_down)[None].astype(np.float32)
        self._yy = yy[:, :1].astype(np.float32)
        self._d = np.zeros((*xx.shape, 2), np.float32)
        self._taper = taper(xx.shape)
        self._x = x.astype(np.float32)
        self.teeth_end = bottom.astype(np.float32)
        """Per column: where the teeth end (their lower edge; by default the lower lip)."""
        self.jaw_drop = np.zeros_like(self._x)
        """Per column: how far the jaw at 1 drops the lower lip's edge (pixels)."""

    def field(self, amount: float) -> np.ndarray:
        """(h, w, 2) displacement over self.box at closing amount 0..1 (reused buffer)."""
        v = np.float32(np.clip(amount, 0.0, 1.0))
        yy = self._yy
        down = descent(v) * self.down[None].astype(np.float32)
        up = descent(v) * self.up[None].astype(np.float32)
        upper_edge, lower_edge = self._top + down, self._bottom - up
        # Output rows above the upper lip's edge show the lip (and the skin above it, stretched)
        # moved down; rows below the lower lip's edge the lower lip moved up; rows between show
        # what was there (the teeth, the mouth): covered, never moved. Once the lips overlap they
        # meet at the seam.
        upper_to = np.minimum(upper_edge, np.maximum(lower_edge, self._meet))
        lower_from = np.maximum(lower_edge, np.minimum(upper_edge, self._meet))
        above = down * (1 - smoothstep((upper_edge - self._upper_t - yy) / self._reach_up))
        below = up * (1 - smoothstep((yy - lower_edge - self._lower_t) / self._reach_down))
        # (a lip's edge anti-aliased over a pixel while there is a slit between them: it moves
        # smoothly from frame to frame; once they meet, no blend: a row between the two lips would
        # show the teeth between them)
        apart = upper_edge < lower_edge
        on_upper = np.where(apart, np.clip(upper_to + 0.5 - yy, 0.0, 1.0), yy < upper_to)
        on_lower = np.where(apart, np.clip(yy - lower_from + 0.5, 0.0, 1.0), yy >= lower_from)
        self._d[..., 1] = (above * on_upper - below * on_lower) * self._taper
        return self._d

    def shade(self, frame: np.ndarray, amount: float, jaw: float, warp: tuple[np.ndarray, np.ndarray],
              colour: np.ndarray, lips: np.ndarray) -> None:
        """In place: teeth the closing lips have nearly covered are in their shade. Lit teeth show
        between the lips at their own height or not at all: once less than about half of a column's
        teeth is left between the upper lip and the lower one (the jaw's opening included), what is
        left is covered by the lips' inner faces in their shade (`lips`) with one dark line of the
        mouth's `colour` where they are about to meet (the last slit lets no light in), never a
        thin bright row of teeth (a jagged white crack) nor a dark band (a hole). `jaw`: the jaw's opening (0..1);
        `warp`: the frame's backward map (x, y). The slit is found where the frame shows it: the
        pixels the map takes from between the photo's lips (wherever the smile, the lips' shapes
        and the head moved them), so its shade lies on it, not beside it as a second dark line."""
        v = float(np.clip(amount, 0.0, 1.0))
        if v < 0.02:
            return
        keep = self.down > 0
        top, bottom = self._top[0, keep], self._bottom[0, keep]
        ends = self.teeth_end[keep]
        upper_edge = top + float(descent(v)) * self.down[keep]
        # (the jaw carries the lower lip down only while its edge is below the teeth's: above
        # that line nothing follows the jaw)
        lower_edge = bottom - float(descent(v)) * self.up[keep]
        lowest = lower_edge + jaw * self.jaw_drop[keep]
        lower_edge = np.where(lower_edge >= ends, lowest, lower_edge)
        left = (np.minimum(ends, lower_edge) - upper_edge) / np.maximum(ends - top, 1.0)
        # (one light for the whole mouth, from its middle half: columns lit and shaded side by
        # side would stripe the teeth)
        middle = np.abs(np.linspace(-1.0, 1.0, len(left))) < 0.5
        lit = float(smoothstep((np.median(left[middle]) - 0.5) / 0.08))
        if lit > 0.98:
            return
        h, w = frame.shape[:2]
        bx0, by0, bx1, by1 = self.box
        side = int(0.15 * self.mw)  # (as far as the lips' fields carry them: render._close_lips)
        x0, y0, x1, y1 = max(0, bx0 - side), max(0, by0 - side), min(w, bx1 + side), min(h, by1 + side)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        sx, sy = warp[0][y0:y1, x0:x1], warp[1][y0:y1, x0:x1]
        # Per output pixel: the column of the photo it shows, and that column's gap between the lips.
        col = np.clip(np.rint(sx - np.float32(bx0)).astype(np.int32), 0, len(self._x) - 1)
        xs = self._x[keep]
        cols = self._x
        gap_top = np.interp(cols, xs, top, left=np.nan, right=np.nan)[col]
        # (down to the lower lip: the lower teeth, gums or shade the photo shows under the upper
        # teeth are covered too)
        end = bottom
        gap_end = np.interp(cols, xs, end, left=np.nan, right=np.nan)[col]
        # (soft, a pixel or two into both lips' inner edges: the lips' inner edges are in the same
        # shade)
        inside = np.nan_to_num(smoothstep((sy - gap_top + 3.0) / 2.0) * smoothstep((gap_end + 3.0 - sy) / 2.0))
        inside = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), 0.8)
        # (fading out into the corners)
        across = np.abs(cols - 0.5 * (xs[0] + xs[-1])) / max(0.5 * (xs[-1] - xs[0]), 1.0)
        fade = smoothstep((1 - across) / 0.3)[col]
        region = frame[y0:y1, x0:x1]
        rgb = region.astype(np.float32)
        amount_px = (1 - lit) * inside * fade
        # What is left between lips that have nearly met is not a hole: the lips' inner faces in
        # their own shade (`lips`, with a trace of the grain behind), and one dark line of the
        # mouth's `colour` along the middle of the slit, where they are about to meet.
        light = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
        faces = lips[None, None] * (0.92 + 0.16 * (light / 255.0 - 0.5))[..., None]
        upper = np.interp(cols, xs, upper_edge, left=np.nan, right=np.nan)[col]
        lower = np.interp(cols, xs, np.minimum(lower_edge, end), left=np.nan, right=np.nan)[col]
        # (per column of the frame, through the pixel that shows the slit's middle: a line drawn
        # where the photo's rows fall would break into dashes where it is thinner than they are)
        mid = np.nan_to_num(0.5 * (upper + lower), nan=-1e6)
        # (the row where the frame crosses from the upper lip's side of the middle to the lower's:
        # a slit of a pixel or two skips several of the photo's rows between its neighbours)
        cross = (sy[:-1] < mid[:-1]) & (sy[1:] >= mid[1:]) & (np.abs(sy[1:] - mid[1:]) < 0.1 * self.mw)
        row = np.argmax(cross, axis=0) + 0.5
        near = cross.any(axis=0)
        # (smoothed along the mouth over a few columns: a line stepping by whole rows looks jagged)
        if near.sum() >= 5:
            row = np.interp(np.arange(len(row)), np.flatnonzero(near), row[near])
            row = np.convolve(np.pad(row, 2, mode="edge"), np.full(5, 0.2), mode="valid")
        yy = np.arange(sy.shape[0], dtype=np.float32)[:, None]
        line = np.exp(-0.5 * ((yy - row[None]) / 0.9) ** 2) * near[None]
        shaded = faces + (colour[None, None] - faces) * (0.8 * line)[..., None]
        region[:] = (rgb + (shaded - rgb) * amount_px[..., None] + 0.5).clip(0, 255).astype(np.uint8)


def descent(v):
    """How far the lips have slid over the teeth (0..1) when they are `v` of the way shut: late. The
    jaw brings the lower lip up first and the lips close over the teeth in the last part of the
    closing, so the teeth keep their height until the lips meet over them."""
    return smoothstep(np.asarray(v, np.float32))


def _outline(lm: np.ndarray, ids, x: np.ndarray) -> np.ndarray:
    """y of a lip outline (mesh points `ids`) at columns x."""
    pts = lm[ids]
    order = np.argsort(pts[:, 0])
    return np.interp(x, pts[order, 0], pts[order, 1])


def taper(shape, width: float = 6.0) -> np.ndarray:
    """1 inside, 0 at the region's border: a field can never end in a step."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    edge = np.minimum(np.minimum(xx, shape[1] - 1 - xx), np.minimum(yy, shape[0] - 1 - yy))
    return smoothstep(edge / width)
