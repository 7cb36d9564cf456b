"""The face rig: one dense displacement field per renderer parameter, built once per avatar.

A frame's warp is the weighted sum of these fields (only over each field's region), applied as
one backward map with cv2.remap: output pixel p shows the portrait at p - D(p). Fields are built
from the mesh with smooth falloff; where real skin separates (the lips when the jaw opens, the
upper lid over the eye) the field changes sharply along that line, so the lips part instead of
stretching, and the gap is painted by the renderer. Far from the face every field is zero: the
background and the image border never move.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from runtime.face import landmarks as L

# Ranges: mouth, brow, blink and emotion parameters 0..1 (smile may go to -0.5 for a frown),
# gaze -1..1 (a fraction of the iris travel), head angles -0.06..0.06 radians (idle motion is
# a few hundredths; the warp is a linear model of small motions).
PARAMS = ("jaw_open", "lip_spread", "lip_round", "lip_press", "smile", "brow_raise", "brow_furrow",
          "blink_left", "blink_right", "gaze_x", "gaze_y", "head_yaw", "head_pitch", "head_roll")


@dataclass
class Field:
    """A displacement field over a region: rows y0:y1, columns x0:x1, (h, w, 2) pixels per unit."""

    y0: int
    y1: int
    x0: int
    x1: int
    d: np.ndarray


@dataclass
class Rig:
    """Fields and the matching landmark displacements of one avatar."""

    size: int
    fields: dict[str, Field]
    landmark_moves: dict[str, np.ndarray]
    """Per parameter: (468, 2) displacement of each landmark at value 1 (pixels)."""
    mouth_width: float
    eye_distance: float


def _smooth(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _gauss(xx, yy, cx, cy, sx, sy=None):
    sy = sx if sy is None else sy
    return np.exp(-(((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2) / 2)


class _Builder:
    def __init__(self, lm: np.ndarray, size: int) -> None:
        self.lm, self.size = lm[:, :2].astype(np.float64), size
        xy = self.lm
        self.mouth_w = float(np.linalg.norm(xy[61] - xy[291]))
        self.eye_r = xy[L.RIGHT_EYE].mean(axis=0)
        self.eye_l = xy[L.LEFT_EYE].mean(axis=0)
        self.eye_d = float(np.linalg.norm(self.eye_l - self.eye_r))
        oval = xy[L.FACE_OVAL]
        self.face_box = (oval[:, 0].min(), oval[:, 1].min(), oval[:, 0].max(), oval[:, 1].max())

    def region(self, x0, y0, x1, y1):
        s = self.size
        x0, y0 = max(0, int(x0)), max(0, int(y0))
        x1, y1 = min(s, int(np.ceil(x1))), min(s, int(np.ceil(y1)))
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        return (x0, y0, x1, y1), xx, yy

    def mouth_line(self, xx):
        """y of the closed mouth line at each x (between the inner lips), flat beyond the corners."""
        xy = self.lm
        upper, lower = xy[L.LIPS_UPPER_INNER], xy[list(reversed(L.LIPS_LOWER_INNER))]
        mid = (upper + lower) / 2
        order = np.argsort(mid[:, 0])
        return np.interp(xx, mid[order, 0], mid[order, 1])

    def face_mask(self, xx, yy, grow=1.0, soft=0.12):
        """~1 inside the face oval (scaled by grow), falling to 0 over `soft` of its size."""
        x0, y0, x1, y1 = self.face_box
        cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, grow * (x1 - x0) / 2, grow * (y1 - y0) / 2
        r = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
        return 1.0 - _smooth((r - 1.0) / soft + 0.5)

    # --- the fields ---------------------------------------------------------------------------

    def jaw(self):
        xy, w = self.lm, self.mouth_w
        amount = 0.42 * w
        chin_y = xy[L.CHIN, 1]
        x0, _, x1, _ = self.face_box
        fw = x1 - x0
        box, xx, yy = self.region(x0 - 0.3 * fw, xy[0, 1] - 1.2 * w, x1 + 0.3 * fw, chin_y + 0.9 * w)
        line = self.mouth_line(xx)
        mx0, mx1 = xy[61, 0], xy[291, 0]
        cx = (mx0 + mx1) / 2
        u = np.abs(xx - cx) / (0.5 * w)  # 0 at the mouth's centre, 1 at its corners
        # The lips part sharply in the middle of the mouth; towards and beyond the corners the
        # split softens into a stretch of the cheek, so nothing tears.
        ramp = 1.5 + 0.5 * w * _smooth((u - 0.75) / 0.6)
        below = _smooth((yy - line) / ramp + 0.5)
        fade_down = 1.0 - _smooth((yy - chin_y) / (0.7 * w))
        opening = 0.3 + 0.7 * np.sqrt(np.clip(1 - u * u, 0, 1))  # rounded like a real lower lip
        sideways = 1.0 - _smooth((np.abs(xx - cx) - 0.45 * w) / (0.9 * w))
        g = below * fade_down * opening * (0.25 + 0.75 * sideways) * self.face_mask(xx, yy, 1.02, 0.15)
        d = np.zeros((*xx.shape, 2))
        d[..., 1] = amount * g
        d[..., 1] -= 0.06 * w * (1 - below) * _gauss(xx, yy, cx, line, 0.5 * w, 0.25 * w)  # upper lip lifts a little
        return box, d

    def lips(self, dx_corner, dy_corner, split_dy=0.0, sigma=0.35):
        """Corners move by (±dx, dy) with a smooth blob; split_dy opens (+) or presses (-) the lips."""
        xy, w = self.lm, self.mouth_w
        cx, cy = (xy[61] + xy[291]) / 2
        box, xx, yy = self.region(cx - 1.2 * w, cy - 0.8 * w, cx + 1.2 * w, cy + 0.9 * w)
        d = np.zeros((*xx.shape, 2))
        for corner, sign in ((xy[61], -1.0), (xy[291], 1.0)):
            blob = _gauss(xx, yy, corner[0], corner[1], sigma * w)
            d[..., 0] += sign * dx_corner * w * blob
            d[..., 1] += dy_corner * w * blob
        if split_dy:
            line = self.mouth_line(xx)
            side = np.tanh((yy - line) / 1.5)  # -1 above the mouth line, +1 below
            lips = _gauss(xx, yy, cx, cy, 0.55 * w, 0.3 * w)
            d[..., 1] += split_dy * w * side * lips
        return box, d

    def smile(self):
        box, d = self.lips(0.07, -0.09, sigma=0.4)
        w = self.mouth_w
        x0, y0, x1, y1 = box
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        for eye in (self.eye_r, self.eye_l):  # cheeks rise and the lower lids follow a little
            d[..., 1] -= 0.05 * w * _gauss(xx, yy, eye[0], eye[1] + 0.45 * self.eye_d, 0.35 * self.eye_d)
        return box, d

    def brows(self, raise_=True):
        e = self.eye_d
        box, xx, yy = self.region(self.face_box[0], self.face_box[1] - 0.2 * e,
                                  self.face_box[2], (self.eye_r[1] + self.eye_l[1]) / 2 + 0.9 * e)
        d = np.zeros((*xx.shape, 2))
        for brow, inner in ((L.RIGHT_BROW, L.RIGHT_BROW_INNER), (L.LEFT_BROW, L.LEFT_BROW_INNER)):
            if raise_:
                c = self.lm[brow].mean(axis=0)
                blob = _gauss(xx, yy, c[0], c[1], 0.42 * e, 0.3 * e)
                d[..., 1] -= 0.1 * e * blob
            else:
                c = self.lm[inner].mean(axis=0)
                blob = _gauss(xx, yy, c[0], c[1], 0.2 * e, 0.18 * e)
                toward = np.sign(((self.eye_r + self.eye_l) / 2)[0] - c[0])
                d[..., 0] += toward * 0.06 * e * blob
                d[..., 1] += 0.06 * e * blob
        return box, d

    def blink(self, upper_ids, lower_ids, corners, brow_ids):
        xy, e = self.lm, self.eye_d
        up, low = xy[upper_ids], xy[lower_ids]
        ex0, ex1 = xy[corners, 0].min() - 0.12 * e, xy[corners, 0].max() + 0.12 * e
        top = up[:, 1].min() - 0.5 * e
        box, xx, yy = self.region(ex0, top, ex1, low[:, 1].max() + 0.06 * e)
        o_up, o_low = np.argsort(up[:, 0]), np.argsort(low[:, 0])
        lid = np.interp(xx, up[o_up, 0], up[o_up, 1])
        floor = np.interp(xx, low[o_low, 0], low[o_low, 1])
        gap = np.clip(floor - lid, 0, None)
        # Above the lid the skin slides down less and less up to the brow; inside the eye the
        # output shows lid skin; at the lower lid the lid's edge meets it.
        # The skin between the brow and the lid slides down, more and more towards the lid, so
        # the brow stays put and the stretch is spread over the whole lid (no smearing).
        brow = xy[brow_ids]
        o_brow = np.argsort(brow[:, 0])
        crease = np.minimum(np.interp(xx, brow[o_brow, 0], brow[o_brow, 1]) + 0.05 * e, lid - 0.2 * e)
        above = np.clip((yy - crease) / np.maximum(lid - crease, 1.0), 0.0, 1.0)
        inside = (yy <= floor + 0.5).astype(np.float64)
        across = 1.0 - _smooth((np.maximum(ex0 + 0.1 * e - xx, xx - ex1 + 0.1 * e)) / (0.1 * e))
        d = np.zeros((*xx.shape, 2))
        # A little more than the gap: the mesh's lid line sits just inside the visible lashes.
        d[..., 1] = (1.12 * gap + 0.04 * e) * above * inside * across
        return box, d

    def gaze(self, axis: int):
        e = self.eye_d
        lo, hi = np.minimum(self.eye_r, self.eye_l), np.maximum(self.eye_r, self.eye_l)
        box, xx, _ = self.region(lo[0] - 0.45 * e, lo[1] - 0.3 * e, hi[0] + 0.45 * e, hi[1] + 0.3 * e)

        mask = np.zeros(xx.shape, np.uint8)
        for eye in (L.RIGHT_EYE, L.LEFT_EYE):
            pts = (self.lm[eye] - [box[0], box[1]]).round().astype(np.int32)
            cv2.fillPoly(mask, [pts], 255)
        mask = cv2.erode(mask, np.ones((3, 3), np.uint8))
        soft = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), max(1.0, 0.03 * e))
        d = np.zeros((*xx.shape, 2))
        d[..., axis] = 0.12 * e * soft
        return box, d

    def head(self, kind: str):
        x0, y0, x1, y1 = self.face_box
        w, h = x1 - x0, y1 - y0
        box, xx, yy = self.region(x0 - 0.5 * w, y0 - 0.55 * h, x1 + 0.5 * w, y1 + 0.5 * h)
        weight = self.face_mask(xx, yy, 1.25, 0.5)
        cx = (x0 + x1) / 2
        d = np.zeros((*xx.shape, 2))
        if kind == "yaw":  # radians -> the face slides sideways, the middle (nose) most
            d[..., 0] = 0.5 * w * weight * (0.6 + 0.4 * self.face_mask(xx, yy, 0.6, 0.8))
        elif kind == "pitch":
            d[..., 1] = 0.5 * h * weight * (0.6 + 0.4 * self.face_mask(xx, yy, 0.6, 0.8))
        else:  # roll about the chin
            d[..., 0] = -(yy - y1) * weight
            d[..., 1] = (xx - cx) * weight
        return box, d


def _taper(shape, width: float = 6.0) -> np.ndarray:
    """1 inside, 0 at the region's border: a field can never end in a step."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    edge = np.minimum(np.minimum(xx, shape[1] - 1 - xx), np.minimum(yy, shape[0] - 1 - yy))
    return _smooth(edge / width)


def build_rig(landmarks: np.ndarray, size: int) -> Rig:
    """All parameter fields of an avatar (pixels per unit of each parameter)."""
    b = _Builder(landmarks, size)
    made = {
        "jaw_open": b.jaw(),
        "lip_spread": b.lips(0.1, -0.01, split_dy=-0.01),
        "lip_round": b.lips(-0.13, 0.0, split_dy=0.04, sigma=0.45),
        "lip_press": b.lips(0.0, 0.0, split_dy=-0.06),
        "smile": b.smile(),
        "brow_raise": b.brows(True),
        "brow_furrow": b.brows(False),
        "blink_right": b.blink(L.RIGHT_EYE_UPPER, L.RIGHT_EYE_LOWER, L.RIGHT_EYE_CORNERS, L.RIGHT_BROW[5:]),
        "blink_left": b.blink(L.LEFT_EYE_UPPER, L.LEFT_EYE_LOWER, L.LEFT_EYE_CORNERS, L.LEFT_BROW[5:]),
        "gaze_x": b.gaze(0),
        "gaze_y": b.gaze(1),
        "head_yaw": b.head("yaw"),
        "head_pitch": b.head("pitch"),
        "head_roll": b.head("roll"),
    }
    fields, moves = {}, {}
    xy = landmarks[:, :2]
    for name, ((x0, y0, x1, y1), d) in made.items():
        d = d * _taper(d.shape[:2])[..., None]
        fields[name] = Field(y0, y1, x0, x1, d.astype(np.float32))
        ix = np.clip(np.round(xy[:, 0]).astype(int) - x0, 0, x1 - x0 - 1)
        iy = np.clip(np.round(xy[:, 1]).astype(int) - y0, 0, y1 - y0 - 1)
        inside = (xy[:, 0] >= x0) & (xy[:, 0] < x1) & (xy[:, 1] >= y0) & (xy[:, 1] < y1)
        moves[name] = np.where(inside[:, None], d[iy, ix], 0.0).astype(np.float32)
    # Lower inner-lip points sit right on the parting line: give them the jaw motion of the
    # lip below the line, not the blend the line itself gets.
    lower = L.LIPS_LOWER_INNER[1:-1]
    centre = (xy[61, 0] + xy[291, 0]) / 2
    u = np.abs(xy[lower, 0] - centre) / (0.5 * b.mouth_w)
    moves["jaw_open"][lower, 1] = 0.42 * b.mouth_w * (0.3 + 0.7 * np.sqrt(np.clip(1 - u * u, 0, 1)))
    return Rig(size, fields, moves, b.mouth_w, b.eye_d)
