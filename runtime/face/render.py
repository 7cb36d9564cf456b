"""The warp renderer: parameters -> RGB frame, one backward map and one cv2.remap per frame.

Per frame: the active fields are summed into the map (only over their regions), the portrait is
remapped once, and the mouth interior (cavity, upper teeth, tongue shade) is painted inside the
inner-lip contour of the deformed mesh with a feathered edge. Everything else (eyelids included)
is the warp itself: a closing lid is the portrait's own lid skin slid over the eye.
"""

from __future__ import annotations

import cv2
import numpy as np

from runtime.face import landmarks as L
from runtime.face.rig import PARAMS, Rig

TEETH = np.array([236, 232, 222], np.float32)


class FaceRenderer:
    """Renders one avatar; not thread-safe (reuses its buffers)."""

    def __init__(self, portrait: np.ndarray, landmarks: np.ndarray, rig: Rig) -> None:
        self.portrait = np.ascontiguousarray(portrait)
        self.landmarks = landmarks[:, :2].astype(np.float32)
        self.rig = rig
        size = portrait.shape[0]
        self._grid_x, self._grid_y = np.meshgrid(np.arange(size, dtype=np.float32),
                                                  np.arange(portrait.shape[1], dtype=np.float32))
        self._map_x, self._map_y = self._grid_x.copy(), self._grid_y.copy()
        lips = cv2.fillPoly(np.zeros(portrait.shape[:2], np.uint8),
                            [self.landmarks[L.LIPS_LOWER_OUTER].round().astype(np.int32)], 1).astype(bool)
        lip = portrait[lips].mean(axis=0) if lips.any() else np.array([150, 70, 70], np.float32)
        self.cavity = (lip * np.array([0.32, 0.16, 0.16])).astype(np.float32)
        self.tongue = (lip * np.array([0.75, 0.42, 0.42])).astype(np.float32)
        rest_gap = float(self.landmarks[14, 1] - self.landmarks[13, 1])
        self.shows_teeth = rest_gap > 0.08 * rig.mouth_width
        """The portrait's mouth is open (a smile with teeth): its own teeth stay, none are painted."""

    def render(self, params: dict[str, float]) -> np.ndarray:
        """The frame for these parameter values (missing parameters are 0)."""
        mx, my = self._map_x, self._map_y
        np.copyto(mx, self._grid_x)
        np.copyto(my, self._grid_y)
        moved = self.landmarks.copy()
        for name, value in params.items():
            if abs(value) < 1e-3:
                continue
            f = self.rig.fields[name]
            cv2.scaleAdd(f.d[..., 0], -value, mx[f.y0:f.y1, f.x0:f.x1], mx[f.y0:f.y1, f.x0:f.x1])
            cv2.scaleAdd(f.d[..., 1], -value, my[f.y0:f.y1, f.x0:f.x1], my[f.y0:f.y1, f.x0:f.x1])
            moved += value * self.rig.landmark_moves[name]
        frame = cv2.remap(self.portrait, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        self._paint_mouth(frame, moved)
        return frame

    def _paint_mouth(self, frame: np.ndarray, moved: np.ndarray) -> None:
        """Paint the gap the lips opened beyond the portrait's own mouth (none at rest)."""
        rest = self.landmarks
        up_ids, low_ids = L.LIPS_UPPER_INNER, list(reversed(L.LIPS_LOWER_INNER))
        mid = (rest[up_ids] + rest[low_ids]) / 2
        top = mid + (moved[up_ids] - rest[up_ids])
        bottom = mid + (moved[low_ids] - rest[low_ids])
        opening = float((bottom[:, 1] - top[:, 1]).max())
        if opening < 0.6:
            return
        poly = np.concatenate([top, bottom[::-1]])
        x0, y0 = np.floor(poly.min(axis=0)).astype(int) - 2
        x1, y1 = np.ceil(poly.max(axis=0)).astype(int) + 3
        h, w = frame.shape[:2]
        x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round((poly - [x0, y0]) * 4).astype(np.int32)], 255, cv2.LINE_AA, shift=2)
        alpha = cv2.GaussianBlur(mask, (3, 3), 0.7).astype(np.float32)[..., None] / 255.0
        alpha *= min(1.0, (opening - 0.6) / 3.0)  # a hairline gap fades in, never a black line
        inside = self._interior(top, bottom, opening, x0, y0, mask.shape)
        frame[y0:y1, x0:x1] = (frame[y0:y1, x0:x1] * (1 - alpha) + inside * alpha).astype(np.uint8)

    def _interior(self, upper, lower, opening, x0, y0, shape) -> np.ndarray:
        """Cavity, upper teeth (unless the portrait already shows its own) and tongue shade."""
        yy, xx = np.mgrid[y0:y0 + shape[0], x0:x0 + shape[1]].astype(np.float32)
        ou, ol = np.argsort(upper[:, 0]), np.argsort(lower[:, 0])
        top = np.interp(xx, upper[ou, 0], upper[ou, 1])
        bottom = np.interp(xx, lower[ol, 0], lower[ol, 1])
        depth = np.clip((yy - top) / np.maximum(bottom - top, 1.0), 0, 1)[..., None]
        mw = self.rig.mouth_width
        centre = (upper[:, 0].min() + upper[:, 0].max()) / 2
        across = np.clip(1 - np.abs(xx - centre) / (0.5 * mw), 0, 1)[..., None]
        out = self.cavity * (0.55 + 0.45 * np.abs(depth - 0.5) * 2) * (0.7 + 0.3 * (1 - across))
        tongue = np.clip((depth - 0.62) / 0.3, 0, 1) * np.clip(opening / (0.2 * mw), 0, 1) * across
        out = out * (1 - tongue) + self.tongue * tongue
        if self.shows_teeth:
            return out
        teeth_h = min(0.42 * opening, 0.12 * mw)
        teeth = np.clip((top + teeth_h - yy) / 1.2, 0, 1)[..., None] * np.clip(across * 1.6, 0, 1)
        shade = 0.78 + 0.22 * np.clip((yy - top) / max(teeth_h, 1.0), 0, 1)[..., None]
        return out * (1 - teeth) + TEETH * shade * teeth


def rest() -> dict[str, float]:
    """All parameters at rest."""
    return dict.fromkeys(PARAMS, 0.0)
