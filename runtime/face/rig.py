"""The face rig: one dense displacement field per renderer parameter, built once per avatar.

A frame's warp is the weighted sum of these fields (only over each field's region), applied as
one backward map with cv2.remap: output pixel p shows the portrait at p - D(p). Fields are built
from the mesh with smooth falloff; where real skin separates (the lips when the jaw opens, the
upper lid over the eye) the field changes sharply along that line, so the lips part instead of
stretching, and the gap is painted by the renderer. Far from the face every field is zero: the
background and the image border never move.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from runtime.face import eyelids
from runtime.face import landmarks as L
from runtime.face.ease import smoothstep
from runtime.face.press import Press
from runtime.face.press import taper as _taper
from runtime.face.pucker import pucker

# Ranges: mouth, brow, blink and emotion parameters 0..1 (smile may go to -0.5 for a frown),
# gaze -1..1 (a fraction of the iris travel), head angles -0.06..0.06 radians (idle motion is
# a few hundredths; the warp is a linear model of small motions).
PARAMS = ("jaw_open", "lip_spread", "lip_round", "lip_press", "smile", "cheek_raise", "brow_raise", "brow_inner",
          "brow_furrow", "blink_left", "blink_right", "gaze_x", "gaze_y", "head_yaw", "head_pitch", "head_roll")
HEAD = ("head_yaw", "head_pitch", "head_roll")
"""Parameters that move the whole head (the upper teeth go with these only)."""
PARTING = ("jaw_open", "lip_spread", "lip_round", "lip_press")
"""Parameters whose field parts (or presses) the lips along the parting line; every other field is
smooth across it and only stretches the photo there, which the photo's own pixels fill."""


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
    split: np.ndarray
    """(n, 2) points along the line where the lips part, left to right (portrait pixels)."""
    split_moves: dict[str, tuple[np.ndarray, np.ndarray]]
    """Per parameter: (n, 2) displacement just above and just below the parting line at value 1."""
    open_at_rest: bool
    """The portrait's mouth is open (a smile with teeth): the lips part below its own teeth."""
    blinks: dict[str, eyelids.Blink] = field(default_factory=dict)
    """Parameters whose displacement is not linear (the blinks): computed per frame."""
    seam: np.ndarray | None = None
    """(n, 2) where lips apart in the photo meet when pressed (m, b, p), left to right; None when
    the photo's lips are closed (their own seam shows)."""
    seam_moves: dict[str, np.ndarray] = field(default_factory=dict)
    """Per parameter: (n, 2) displacement of the seam's points at value 1."""
    press: Press | None = None
    """Lips apart in the photo closing over the teeth (m, b, p): lip_press's field per frame."""
    pucker: Field | None = None
    """Rounded lips drawn in and pushed out (lip_round): a forward displacement of the finished
    frame's mouth at lip_round 1 (pixels; the frame at p shows itself at p - value x d(p))."""
    lids: list | None = None
    """The upper lids the blinks slide down, right and left (runtime.face.eyelids.Lid)."""
    strip: np.ndarray | None = None
    """(n,) per point of `split`: how far below it the lower lip's inner edge lies in the photo (a
    strip of gum, tongue or lower teeth in shade that rides down with the jaw; as the mouth opens
    it becomes part of the painted mouth, not a second outline inside the lower lip)."""




def lip_opening(u):
    """How far the lower lip's edge opens (0..1 of the jaw's drop) at u = |x - centre| / half the
    width of the lips' opening: fully in the middle, nothing at the corners, where the lips meet
    at a point."""
    return np.clip(1 - np.asarray(u) ** 2, 0, 1)


def _gauss(xx, yy, cx, cy, sx, sy=None):
    sy = sx if sy is None else sy
    return np.exp(-(((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2) / 2)


class _Builder:
    def __init__(self, lm: np.ndarray, size: int, split: np.ndarray | None, open_at_rest: bool | None = None,
                 gap: np.ndarray | None = None) -> None:
        self.lm, self.size = lm[:, :2].astype(np.float64), size
        xy = self.lm
        self.mouth_w = float(np.linalg.norm(xy[61] - xy[291]))
        self.eye_r = xy[L.RIGHT_EYE].mean(axis=0)
        self.eye_l = xy[L.LEFT_EYE].mean(axis=0)
        self.eye_d = float(np.linalg.norm(self.eye_l - self.eye_r))
        oval = xy[L.FACE_OVAL]
        self.face_box = (oval[:, 0].min(), oval[:, 1].min(), oval[:, 0].max(), oval[:, 1].max())
        upper, lower = xy[L.LIPS_UPPER_INNER], xy[list(reversed(L.LIPS_LOWER_INNER))]
        self.open_at_rest = mouth_open(lm) if open_at_rest is None else open_at_rest
        # Closed lips part between them; lips open over teeth part at the lower lip, so the
        # portrait's own teeth stay with the upper jaw.
        self.split = split if split is not None else lower if self.open_at_rest else (upper + lower) / 2
        self.press_line = (upper + lower) / 2
        closed = np.stack([upper[:, 0], upper[:, 1], np.maximum(lower[:, 1], upper[:, 1])], 1)
        self.gap = gap if gap is not None else closed
        # How far the jaw drops the lower lip at jaw_open 1: less from a smile already open (its A
        # is a wide smile's opening, not a scream).
        rest = float(np.max(lower[:, 1] - upper[:, 1])) if self.open_at_rest else 0.0
        self.jaw_drop = 0.42 * self.mouth_w - 0.6 * min(rest, 0.3 * self.mouth_w)
        """(n, 3) x, top, bottom of what lies between the lips (runtime.face.lips.lip_gap)."""

    def region(self, x0, y0, x1, y1):
        s = self.size
        x0, y0 = max(0, int(x0)), max(0, int(y0))
        x1, y1 = min(s, int(np.ceil(x1))), min(s, int(np.ceil(y1)))
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        return (x0, y0, x1, y1), xx, yy

    def mouth_line(self, xx, press=False):
        """y of the line where the lips part (press: where they meet) at each x, flat beyond the corners."""
        line = self.press_line if press else self.split
        order = np.argsort(line[:, 0])
        return np.interp(xx, line[order, 0], line[order, 1])

    def face_mask(self, xx, yy, grow=1.0, soft=0.12):
        """~1 inside the face oval (scaled by grow), falling to 0 over `soft` of its size."""
        x0, y0, x1, y1 = self.face_box
        cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, grow * (x1 - x0) / 2, grow * (y1 - y0) / 2
        r = np.sqrt(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2)
        return 1.0 - smoothstep((r - 1.0) / soft + 0.5)

    def window(self, box, xx, yy):
        """1 inside a field's region, falling smoothly to 0 over 0.3 mouth widths at its edges: a
        wide blob cut off there showed as the outline of a box round the mouth (at O) and as a
        line across the cheeks (joy)."""
        x0, y0, x1, y1 = box
        edge = 0.3 * self.mouth_w
        return (smoothstep((xx - x0) / edge) * smoothstep((x1 - 1 - xx) / edge)
                * smoothstep((yy - y0) / edge) * smoothstep((y1 - 1 - yy) / edge))

    # --- the fields ---------------------------------------------------------------------------

    def jaw(self):
        xy, w = self.lm, self.mouth_w
        amount = self.jaw_drop
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
        ramp = 1.5 + 0.5 * w * smoothstep((u - 0.75) / 0.6)
        below = smoothstep((yy - line) / ramp + 0.5)
        fade_down = 1.0 - smoothstep((yy - chin_y) / (0.7 * w))
        # The lower lip opens rounded and stays joined to the upper lip at the corners (the
        # opening is a lens from corner to corner); away from the corners the skin under the
        # mouth line follows the jaw a little (as before the lips).
        inner = 0.5 * abs(xy[308, 0] - xy[78, 0])  # half the width of the lips' opening
        opening = lip_opening(np.abs(xx - cx) / max(inner, 1.0))
        corner = np.minimum(np.hypot(xx - xy[78, 0], yy - xy[78, 1]), np.hypot(xx - xy[308, 0], yy - xy[308, 1]))
        opening = opening + (1 - opening) * 0.3 * smoothstep(corner / (0.25 * w))
        sideways = 1.0 - smoothstep((np.abs(xx - cx) - 0.45 * w) / (0.9 * w))
        g = below * fade_down * opening * (0.25 + 0.75 * sideways) * self.face_mask(xx, yy, 1.02, 0.15)
        d = np.zeros((*xx.shape, 2))
        d[..., 1] = amount * g
        if not self.open_at_rest:  # the upper lip lifts a little (teeth, where shown, do not)
            d[..., 1] -= 0.06 * w * (1 - below) * _gauss(xx, yy, cx, line, 0.5 * w, 0.25 * w)
        return box, d

    def lips(self, dx_corner, dy_corner, split_dy=0.0, sigma=0.35, pinch=0.0):
        """Corners move by (±dx, dy) with a smooth blob; split_dy opens (+) or presses (-) the lips;
        pinch closes them towards the corners (rounded lips: the opening gathers in the middle)."""
        xy, w = self.lm, self.mouth_w
        cx, cy = (xy[61] + xy[291]) / 2
        box, xx, yy = self.region(cx - 1.2 * w, cy - 0.8 * w, cx + 1.2 * w, cy + 0.9 * w)
        d = np.zeros((*xx.shape, 2))
        window = self.window(box, xx, yy)
        for corner, sign in ((xy[61], -1.0), (xy[291], 1.0)):
            blob = _gauss(xx, yy, corner[0], corner[1], sigma * w) * window
            d[..., 0] += sign * dx_corner * w * blob
            d[..., 1] += dy_corner * w * blob
        # Beyond the corners the lips do not part: the shear across the mouth line widens into a
        # soft stretch of the cheek there (a sharp one drew a line across the cheek at O).
        u = np.abs(xx - cx) / (0.5 * w)
        ramp = 1.5 + 0.3 * w * smoothstep((u - 0.85) / 0.45)
        if split_dy:
            line = self.mouth_line(xx, press=split_dy < 0)
            side = np.tanh((yy - line) / ramp)  # -1 above the mouth line, +1 below
            lips = _gauss(xx, yy, cx, cy, 0.55 * w, 0.3 * w)
            # Beyond the corners there is no parting: the split fades out there (no seam in the cheek).
            lips *= 1.0 - smoothstep((np.abs(xx - cx) - 0.4 * w) / (0.25 * w))
            d[..., 1] += split_dy * w * side * lips
        if pinch:
            line = self.mouth_line(xx)
            side = np.tanh((yy - line) / ramp)
            for corner in (xy[61], xy[291]):
                d[..., 1] -= pinch * w * side * _gauss(xx, yy, corner[0], corner[1], 0.22 * w, 0.2 * w)
        return box, d

    def press(self):
        """The lips meet (m, b, p): lips apart in the photo slide over what lies between them
        (runtime.face.press.Press, a field per frame; this is its linear stand-in at full press, for
        the landmarks' and the parting line's motion); lips already closed in the photo get the
        gentle press of closed lips instead."""
        w = self.mouth_w
        gap = self.gap[np.argsort(self.gap[:, 0])]
        self.seam, self.closing = None, None
        if float((gap[:, 2] - gap[:, 1]).max(initial=0.0)) < 0.04 * w:
            return self.lips(0.0, 0.0, split_dy=-0.06)
        self.closing = Press(self.lm, w, gap, self.region)
        self.seam = self.closing.seam
        return self.closing.box, self.closing.field(1.0).astype(np.float64)

    def smile(self):
        """Corners up and out; the middle of the lips stays, so the mouth curves (not just rises)."""
        box, d = self.lips(0.08, 0.0, sigma=0.4)
        w, xy = self.mouth_w, self.lm
        x0, y0, x1, y1 = box
        yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        window = self.window(box, xx, yy)
        for corner in (xy[61], xy[291]):
            # Narrower than the sideways pull: a corner rises, the middle of the lip much less.
            d[..., 1] -= 0.16 * w * _gauss(xx, yy, corner[0], corner[1], 0.26 * w, 0.32 * w) * window
        for eye in (self.eye_r, self.eye_l):  # cheeks rise and the lower lids follow a little
            d[..., 1] -= 0.07 * w * _gauss(xx, yy, eye[0], eye[1] + 0.45 * self.eye_d, 0.35 * self.eye_d) * window
        return box, d

    def cheeks(self):
        """Cheeks rise: the lower lids push up and narrow the eyes from below (joy)."""
        e = self.eye_d
        # (wide enough that the rise has faded out at its sides: beside a turned face's far eye the
        # face's edge cut it off in a vertical line)
        left, right = min(self.face_box[0], self.eye_r[0] - 0.9 * e), max(self.face_box[2], self.eye_l[0] + 0.9 * e)
        box, xx, yy = self.region(left, min(self.eye_r[1], self.eye_l[1]) - 0.3 * e,
                                  right, max(self.eye_r[1], self.eye_l[1]) + 1.0 * e)
        d = np.zeros((*xx.shape, 2))
        for upper, lower, corners in ((L.RIGHT_EYE_UPPER, L.RIGHT_EYE_LOWER, L.RIGHT_EYE_CORNERS),
                                      (L.LEFT_EYE_UPPER, L.LEFT_EYE_LOWER, L.LEFT_EYE_CORNERS)):
            low = self.lm[lower]
            order = np.argsort(low[:, 0])
            floor = np.interp(xx, low[order, 0], low[order, 1])
            x0, x1 = self.lm[corners, 0].min(), self.lm[corners, 0].max()
            cx, half = (x0 + x1) / 2, (x1 - x0) / 2
            # Narrow eyes narrow less: the lower lid rises by about a third of the opening at most.
            opening = float((self.lm[lower, 1] - self.lm[upper, 1]).max())
            lift = min(0.06 * e, 0.35 * opening)
            # Below the lower lid the skin rises as a sheet, fading towards the cheekbone; inside
            # the eye the rise fades out over 1.5 lifts above the lid, so the iris is not dragged.
            up = smoothstep((yy - (floor - 1.5 * lift)) / (1.5 * lift))
            # (it has faded out before the region ends: cut off there it drew a line across the cheeks)
            down = 1.0 - smoothstep((yy - floor - 0.2 * e) / (0.5 * e))
            across = 1.0 - smoothstep((np.abs(xx - cx) - half) / (0.35 * e))
            d[..., 1] -= lift * up * down * across
        return box, d

    def brows(self, raise_=True):
        e = self.eye_d
        box, xx, yy = self.region(self.face_box[0], self.face_box[1] - 0.2 * e,
                                  self.face_box[2], (self.eye_r[1] + self.eye_l[1]) / 2 + 0.9 * e)
        d = np.zeros((*xx.shape, 2))
        window = self.window(box, xx, yy)
        for brow, inner in ((L.RIGHT_BROW, L.RIGHT_BROW_INNER), (L.LEFT_BROW, L.LEFT_BROW_INNER)):
            if raise_ == "inner":  # sad or sympathetic brows: the inner ends rise, slanting the brow
                c = self.lm[inner].mean(axis=0)
                blob = _gauss(xx, yy, c[0], c[1] - 0.05 * e, 0.16 * e, 0.25 * e)
                d[..., 1] -= 0.13 * e * blob
            elif raise_:
                c = self.lm[brow].mean(axis=0)
                blob = _gauss(xx, yy, c[0], c[1], 0.42 * e, 0.3 * e) * window
                d[..., 1] -= 0.1 * e * blob
            else:
                c = self.lm[inner].mean(axis=0)
                blob = _gauss(xx, yy, c[0], c[1], 0.2 * e, 0.18 * e)
                toward = np.sign(((self.eye_r + self.eye_l) / 2)[0] - c[0])
                d[..., 0] += toward * 0.06 * e * blob
                d[..., 1] += 0.06 * e * blob
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


def _sample(box, d: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Displacement of a field at points (nearest pixel; zero outside its region)."""
    x0, y0, x1, y1 = box
    ix = np.clip(np.round(points[:, 0]).astype(int) - x0, 0, x1 - x0 - 1)
    iy = np.clip(np.round(points[:, 1]).astype(int) - y0, 0, y1 - y0 - 1)
    inside = (points[:, 0] >= x0) & (points[:, 0] < x1) & (points[:, 1] >= y0) & (points[:, 1] < y1)
    return np.where(inside[:, None], d[iy, ix], 0.0).astype(np.float32)


def _fields(b: _Builder) -> dict:
    """(box, displacement) of every linear parameter."""
    return {
        "jaw_open": b.jaw(),
        "lip_spread": b.lips(0.1, -0.01, split_dy=-0.01),
        # (the corners come in mostly through the pucker, which squeezes the opened mouth whole: the
        # corners pulled in and the opening pinched towards them here made the O a V between them)
        "lip_round": b.lips(-0.15, 0.0, split_dy=0.05, sigma=0.4, pinch=0.03),
        "lip_press": b.press(),
        "smile": b.smile(),
        "cheek_raise": b.cheeks(),
        "brow_raise": b.brows(True),
        "brow_inner": b.brows("inner"),
        "brow_furrow": b.brows(False),
        "gaze_x": eyelids.gaze(b.lm, b.eye_d, b.region, 0),
        "gaze_y": eyelids.gaze(b.lm, b.eye_d, b.region, 1),
        "head_yaw": b.head("yaw"),
        "head_pitch": b.head("pitch"),
        "head_roll": b.head("roll"),
    }


def mouth_open(landmarks: np.ndarray) -> bool:
    """Whether the portrait's lips are apart (a smile with teeth)."""
    xy = landmarks[:, :2]
    gap = xy[list(reversed(L.LIPS_LOWER_INNER)), 1] - xy[L.LIPS_UPPER_INNER, 1]
    return bool(gap.max() > 0.08 * float(np.linalg.norm(xy[61] - xy[291])))


STILL_UNDER_GLASSES = ("brow_raise", "brow_inner", "brow_furrow", "cheek_raise", "smile")
"""Fields held still where a glasses frame may be (runtime.face.glasses)."""


def build_rig(landmarks: np.ndarray, size: int, split: np.ndarray | None = None,
              still: np.ndarray | None = None, open_at_rest: bool | None = None, gap: np.ndarray | None = None,
              portrait: np.ndarray | None = None) -> Rig:
    """All parameter fields of an avatar (pixels per unit of each parameter).

    `split`: where the lips part, (n, 2) along the inner lips (runtime.face.lips.parting_line);
    by default between closed lips, or at the lower lip of an open mouth. `still`: per pixel
    0..1, how free the fields of STILL_UNDER_GLASSES are (runtime.face.glasses.still_weight).
    `open_at_rest`: the portrait shows teeth between its lips (default: the mesh's lips are apart);
    `gap`: what lies between the lips, (n, 3) x, top, bottom (default: the mesh's inner lips).
    `portrait`: where the lids' lash lines and skin are measured (default: thin, from the mesh).
    """
    b = _Builder(landmarks, size, split, open_at_rest, gap)
    xy = landmarks[:, :2]
    split = b.split[np.argsort(b.split[:, 0])].astype(np.float32)
    step = np.array([0, 3], np.float32)
    above, below = split - step, split + step
    fields, moves, split_moves = {}, {}, {}
    for name, (box, d) in _fields(b).items():
        d = d * _taper(d.shape[:2])[..., None]
        if still is not None and name in STILL_UNDER_GLASSES:
            d = d * still[box[1]:box[3], box[0]:box[2], None]
        fields[name] = Field(box[1], box[3], box[0], box[2], d.astype(np.float32))
        moves[name] = _sample(box, d, xy)
        if name in PARTING:
            split_moves[name] = (_sample(box, d, above), _sample(box, d, below))
        else:  # (a smile stretches the lips: sampled 3 px either side it opened a dark slit under
            # the teeth of a smiling photo, past the corners of its mouth)
            on = _sample(box, d, split)
            split_moves[name] = (on, on.copy())
    # The parting line is where the mouth interior is painted: pressed lips only narrow it (the
    # fold that closes an open smile over its teeth is no opening of its own).
    box, d = b.lips(0.0, 0.0, split_dy=-0.06)
    split_moves["lip_press"] = (_sample(box, d, above), _sample(box, d, below))
    if b.closing is not None:  # (lips closing over teeth: the teeth's edge stays, the lower lip rises)
        rise = np.zeros_like(below)
        rise[:, 1] = -np.interp(split[:, 0], b.closing.box[0] + np.arange(len(b.closing.up)), b.closing.up)
        split_moves["lip_press"] = (np.zeros_like(above), rise)
    # Lower inner-lip points sit right on the parting line: give them the jaw motion of the
    # lip below the line, not the blend the line itself gets.
    lower = L.LIPS_LOWER_INNER[1:-1]
    centre = (xy[61, 0] + xy[291, 0]) / 2
    u = np.abs(xy[lower, 0] - centre) / max(0.5 * abs(xy[308, 0] - xy[78, 0]), 1.0)
    moves["jaw_open"][lower, 1] = b.jaw_drop * lip_opening(u)
    rig = Rig(size, fields, moves, b.mouth_w, b.eye_d, split, split_moves, b.open_at_rest)
    if b.open_at_rest:  # (what lies between the parting line and the lower lip's inner edge)
        gap = b.gap[np.argsort(b.gap[:, 0])]
        rig.strip = np.clip(np.interp(split[:, 0], gap[:, 0], gap[:, 2]) - split[:, 1], 0, 0.2 * b.mouth_w)
        rig.strip = rig.strip.astype(np.float32)
    rig.press = b.closing
    if rig.press is not None:  # (where the teeth end, and how far the jaw takes the lower lip)
        x = rig.press.box[0] + np.arange(len(rig.press.up), dtype=np.float32)
        if b.open_at_rest:
            rig.press.teeth_end = np.interp(x, split[:, 0], split[:, 1]).astype(np.float32)
        half = max(0.5 * abs(xy[308, 0] - xy[78, 0]), 1.0)
        rig.press.jaw_drop = (b.jaw_drop * lip_opening(np.abs(x - centre) / half)).astype(np.float32)
    if b.seam is not None and len(b.seam) > 1:
        rig.seam = b.seam
        # (the press itself moves the lips onto the seam, not the seam)
        rig.seam_moves = {name: _sample((f.x0, f.y0, f.x1, f.y1), f.d, b.seam) * (name != "lip_press")
                          for name, f in fields.items()}
    box, d = pucker(b)
    rig.pucker = Field(box[1], box[3], box[0], box[2], d.astype(np.float32))
    rig.lids = [eyelids.lid(b.lm, b.eye_d, eye, portrait) for eye in eyelids.EYES]
    for name, eye, one in zip(("blink_right", "blink_left"), eyelids.EYES, rig.lids, strict=True):
        rig.blinks[name] = eyelids.Blink(b.lm, b.eye_d, b.region, eye, one)
    return rig
