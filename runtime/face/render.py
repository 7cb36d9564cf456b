"""The warp renderer: parameters -> RGB frame, one backward map and one cv2.remap per frame.

Per frame: the active fields are summed into the map (only over their regions), the portrait is
remapped once, and the mouth interior (cavity, teeth, tongue; runtime.face.mouth) is painted in
the gap the lips open, with a feathered edge; the closing upper lids are painted with the
portrait's own lid skin over the warp that slides their lash lines down (runtime.face.eyelids).
Blinks follow the head: their fields and lids are placed where the head's motion took the eyes;
behind dark glasses there are none.
"""

from __future__ import annotations

import cv2
import numpy as np

from runtime.face import landmarks as L
from runtime.face.ease import smoothstep
from runtime.face.eyelids import behind_dark_lenses
from runtime.face.lidskin import LidPainter
from runtime.face.lips import paint_seam
from runtime.face.mouth import OPENING, MouthPainter
from runtime.face.press import in_order
from runtime.face.pucker import ARCH_SMILE, squeeze
from runtime.face.rig import HEAD, PARAMS, Field, Rig
from runtime.face.rounded import build as rounded_jaw

BLINKS = ("blink_right", "blink_left")
"""Blink parameters, in the order of runtime.face.eyelids.EYES."""


class FaceRenderer:
    """Renders one avatar; not thread-safe (reuses its buffers)."""

    def __init__(self, portrait: np.ndarray, landmarks: np.ndarray, rig: Rig) -> None:
        self.portrait = np.ascontiguousarray(portrait)
        self.landmarks = landmarks[:, :2].astype(np.float32)
        self.rig = rig
        self._grid_x, self._grid_y = np.meshgrid(np.arange(portrait.shape[1], dtype=np.float32),
                                                  np.arange(portrait.shape[0], dtype=np.float32))
        self._map_x, self._map_y = self._grid_x.copy(), self._grid_y.copy()
        self.shows_teeth = rig.open_at_rest
        """The portrait's mouth is open (a smile with teeth): its own teeth stay, only lower ones are added."""
        glimpse = rig.press is not None and not self.shows_teeth  # (a thin row of teeth between closed lips)
        self.mouth = MouthPainter(self.portrait, self.landmarks, rig.mouth_width, rig.split, self.shows_teeth,
                                  own_row=glimpse)
        self._own_teeth = None
        """(portrait, outline of its teeth, the upper lip's inner edge in the middle) of a portrait
        that shows its teeth (runtime.face.pucker.squeeze)."""
        if self.shows_teeth:
            upper = self.landmarks[L.LIPS_UPPER_INNER]
            outline = np.concatenate([upper[np.argsort(upper[:, 0])], rig.split[::-1]])
            self._own_teeth = (self.portrait, outline, self.landmarks[13])
        self.lids = LidPainter(self.portrait, self.landmarks, rig.eye_distance, rig.lids)
        self._rounded = rounded_jaw(rig, self.landmarks)
        """The jaw's opening as rounded lips draw its corners in (runtime.face.rounded)."""
        self.blinks = not behind_dark_lenses(self.portrait, self.landmarks)
        """False behind dark glasses: a lid would be drawn over the lens."""
        self._eye_moves = {name: [rig.landmark_moves[name][eye].mean(axis=0) for eye in (L.RIGHT_EYE, L.LEFT_EYE)]
                           for name in HEAD}
        """Per head parameter: how far each eye moves at value 1 (the blinks go along)."""

    def render(self, params: dict[str, float]) -> np.ndarray:
        """The frame for these parameter values (missing parameters are 0)."""
        mx, my = self._map_x, self._map_y
        np.copyto(mx, self._grid_x)
        np.copyto(my, self._grid_y)
        moved = self.landmarks.copy()
        rig = self.rig
        if rig.press is not None:  # (lips apart in the photo: the jaw rises before they close over the teeth)
            params = in_order(params)
        up, down = rig.split.copy(), rig.split.copy()
        seam = None if rig.seam is None else rig.seam.copy()
        jaw_dx = jaw_dy = 0.0
        eyes = np.zeros((2, 2), np.float32)
        for name, value in params.items():
            if abs(value) < 1e-3 or name in rig.blinks:
                continue
            if name not in ("lip_press", "jaw_open") or rig.press is None:  # (those two: below)
                self._add(rig.fields[name], value)
            moved += value * rig.landmark_moves[name]
            above, below = rig.split_moves[name]
            up += value * above
            down += value * below
            if seam is not None:
                seam += value * rig.seam_moves[name]
            if name in HEAD:
                jaw_dx += value * float(above[len(above) // 2, 0])
                jaw_dy += value * float(above[len(above) // 2, 1])
                eyes += value * np.array(self._eye_moves[name])
        both = self._jaw_round(params)
        if both:  # (the jaw opens first, the rounded lips draw in what it opened)
            rounded = self._rounded
            moved += both * rounded.landmarks
            up += both * rounded.split[0]
            down += both * rounded.split[1]
            if seam is not None and rounded.seam is not None:
                seam += both * rounded.seam
            if rig.press is None:
                self._add(rounded.field, both)
        shifts = [(round(float(dx)), round(float(dy))) for dx, dy in eyes]
        closing = [float(np.clip(params.get(name, 0.0), 0.0, 1.0)) * self.blinks for name in BLINKS]
        for name, amount, (dx, dy) in zip(BLINKS, closing, shifts, strict=True):
            if amount >= 1e-3:
                blink = rig.blinks[name]
                x0, y0, x1, y1 = blink.box
                self._add(Field(y0, y1, x0, x1, blink.field(amount)), 1.0, dx, dy)
        if rig.press is not None:
            if params.get("lip_press", 0.0) >= 1e-3:
                self._close_lips(float(params["lip_press"]))
            if abs(params.get("jaw_open", 0.0)) >= 1e-3:
                self._add(rig.fields["jaw_open"], params["jaw_open"])
                if both:
                    self._add(self._rounded.field, both)
        frame = cv2.remap(self.portrait, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if rig.strip is not None:  # (the strip joins the mouth as it opens)
            opened = float(np.max(down[:, 1] - up[:, 1]))
            down[:, 1] += rig.strip * float(np.clip(opened / (0.015 * rig.mouth_width), 0, 1))
        shut = float(np.clip((params.get("lip_press", 0.0) - 0.6) / 0.4, 0, 1))  # (the lips meet)
        self.mouth.paint(frame, rig.split, up, down, jaw_dx, jaw_dy, (mx, my), moved[OPENING], shut,
                         float(np.clip(params.get("lip_round", 0.0), 0, 1)))
        if rig.press is not None:
            rig.press.shade(frame, params.get("lip_press", 0.0), params.get("jaw_open", 0.0), (mx, my),
                            0.5 * (self.mouth.cavity + self.mouth.deep), 0.9 * self.mouth.lip)
        if seam is not None:
            paint_seam(frame, seam, shut, rig.mouth_width)
        if params.get("lip_round", 0.0) >= 1e-3 and rig.pucker is not None:
            inner = moved[OPENING]
            n = len(OPENING) // 2
            end = float(up[len(up) // 2, 1]) if self.shows_teeth else float(inner[n // 2, 1]) + 0.15 * rig.mouth_width
            # (the photo's own teeth only while no lips press over them: m, b, p cover them)
            own = self._own_teeth if params.get("lip_press", 0.0) < 1e-3 else None
            upper_lip = float(self.landmarks[13, 1] - self.landmarks[0, 1])  # (its height in the middle)
            nose = float(moved[[2, 98, 327], 1].max())  # (the nostrils' lowest point)
            # (not while the avatar smiles: beside the lifted corners a lip drawn down bent into a hook)
            arch = 1.0 - smoothstep(max(0.0, params.get("smile", 0.0)) / ARCH_SMILE)
            squeeze(frame, rig.pucker, float(params["lip_round"]), inner, self.mouth.opened, end, rig.mouth_width,
                    own, upper_lip, nose, arch)
        self.lids.paint(frame, closing, shifts)
        return frame

    def landmarks_at(self, params: dict[str, float]) -> np.ndarray:
        """Where the frame for these parameters shows the portrait's landmarks ((n, 2): where the
        warp carries them; the blinks, which move no landmark, left out)."""
        if self.rig.press is not None:
            params = in_order(params)
        moved = self.landmarks.copy()
        for name, value in params.items():
            if abs(value) >= 1e-3 and name not in self.rig.blinks:
                moved += value * self.rig.landmark_moves[name]
        both = self._jaw_round(params)
        if both:
            moved += both * self._rounded.landmarks
        if both and params.get("lip_press", 0.0) < 1e-3:
            # (the lower lip's inner edge lies on the jaw's tear, where the rounded jaw's moves only
            # estimate it (2-3 pixels short beside an O): placed where the map shows it, p = q + D(p))
            lower = L.LIPS_LOWER_INNER[1:-1]
            q, p = self.landmarks[lower], moved[lower]
            for _ in range(6):
                p = q + self._displacement(params, p)
            moved[lower] = p
        if params.get("lip_round", 0.0) >= 1e-3 and self.rig.pucker is not None:
            # (the frame at p shows itself at p - r d(p): a point q is seen at p = q + r d(p))
            r, q = float(params["lip_round"]), moved
            for _ in range(3):
                moved = q + r * _at(self.rig.pucker, moved)
        return moved

    def _displacement(self, params: dict[str, float], points: np.ndarray) -> np.ndarray:
        """The backward map's displacement D at points ((n, 2); the linear fields only)."""
        d = np.zeros_like(points)
        for name, value in params.items():
            if abs(value) >= 1e-3 and name not in self.rig.blinks and name != "lip_press":
                d += value * _bilinear(self.rig.fields[name], points)
        both = self._jaw_round(params)
        if both:
            d += both * _bilinear(self._rounded.field, points)
        return d

    def _jaw_round(self, params: dict[str, float]) -> float:
        """The weight of the rounded jaw's field (jaw x round; 0: none)."""
        if self._rounded is None:
            return 0.0
        both = float(params.get("jaw_open", 0.0)) * float(np.clip(params.get("lip_round", 0.0), 0.0, 1.0))
        return both if abs(both) >= 1e-3 else 0.0

    def _close_lips(self, amount: float) -> None:
        """Lips apart in the photo closing over its teeth (runtime.face.press), applied where the
        smile, the lips' shapes and the head have taken the photo's lips (so they move the closed
        lips instead of moving the teeth out from under the edge of a lip); the jaw is added after,
        at the line the lips part along."""
        press = self.rig.press
        x0, y0, x1, y1 = press.box
        h, w = self._map_x.shape
        side = int(0.15 * self.rig.mouth_width)
        ox0, oy0, ox1, oy1 = max(0, x0 - side), max(0, y0 - side), min(w, x1 + side), min(h, y1 + side)
        d = press.field(amount)
        mx, my = self._map_x[oy0:oy1, ox0:ox1], self._map_y[oy0:oy1, ox0:ox1]
        # (nearest: a blend across the seam of the two lips would look between them, at the teeth)
        dy = cv2.remap(d[..., 1], mx - np.float32(x0), my - np.float32(y0), cv2.INTER_NEAREST,
                       borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        my -= dy

    def _add(self, f: Field, weight: float, dx: int = 0, dy: int = 0) -> None:
        """Add weight x a field (moved by whole pixels dx, dy) to the backward map (output p shows
        the portrait at p - D)."""
        h, w = self._map_x.shape
        y0, y1, x0, x1 = max(0, f.y0 + dy), min(h, f.y1 + dy), max(0, f.x0 + dx), min(w, f.x1 + dx)
        if y1 <= y0 or x1 <= x0:
            return
        d = f.d[y0 - f.y0 - dy:y1 - f.y0 - dy, x0 - f.x0 - dx:x1 - f.x0 - dx]
        mx, my = self._map_x[y0:y1, x0:x1], self._map_y[y0:y1, x0:x1]
        cv2.scaleAdd(d[..., 0], -weight, mx, mx)
        cv2.scaleAdd(d[..., 1], -weight, my, my)


def _at(f: Field, points: np.ndarray) -> np.ndarray:
    """A field's displacement at points (nearest pixel; zero outside its region)."""
    ix = np.round(points[:, 0]).astype(int) - f.x0
    iy = np.round(points[:, 1]).astype(int) - f.y0
    h, w = f.d.shape[:2]
    inside = (ix >= 0) & (ix < w) & (iy >= 0) & (iy < h)
    return np.where(inside[:, None], f.d[np.clip(iy, 0, h - 1), np.clip(ix, 0, w - 1)], 0.0).astype(np.float32)


def _bilinear(f: Field, points: np.ndarray) -> np.ndarray:
    """A field's displacement at points (bilinear; zero outside its region)."""
    if f.d.size == 0:
        return np.zeros_like(points, dtype=np.float32)
    x = (points[:, 0] - f.x0).astype(np.float32)[None]
    y = (points[:, 1] - f.y0).astype(np.float32)[None]
    return np.stack([cv2.remap(np.ascontiguousarray(f.d[..., k]), x, y, cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)[0] for k in range(2)], axis=1)


def rest() -> dict[str, float]:
    """All parameters at rest."""
    return dict.fromkeys(PARAMS, 0.0)
