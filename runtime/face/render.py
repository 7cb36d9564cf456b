"""The warp renderer: parameters -> RGB frame, one backward map and one cv2.remap per frame.

Per frame: the active fields are summed into the map (only over their regions), the portrait is
remapped once, and the mouth interior (cavity, teeth, tongue; runtime.face.mouth) is painted in
the gap the lips open, with a feathered edge. Everything else (eyelids included) is the warp
itself: a closing lid is the portrait's own lid skin unfolding over the eye.
"""

from __future__ import annotations

import cv2
import numpy as np

from runtime.face.mouth import MouthPainter
from runtime.face.rig import HEAD, PARAMS, Field, Rig


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
        self.mouth = MouthPainter(self.portrait, self.landmarks, rig.mouth_width, rig.split, self.shows_teeth)

    def render(self, params: dict[str, float]) -> np.ndarray:
        """The frame for these parameter values (missing parameters are 0)."""
        mx, my = self._map_x, self._map_y
        np.copyto(mx, self._grid_x)
        np.copyto(my, self._grid_y)
        moved = self.landmarks.copy()
        rig = self.rig
        up, down = rig.split.copy(), rig.split.copy()
        jaw_dx = jaw_dy = 0.0
        for name, value in params.items():
            if abs(value) < 1e-3:
                continue
            if name in rig.keyframes:
                self._keyframed(name, value, moved)
                continue
            self._add(rig.fields[name], value)
            moved += value * rig.landmark_moves[name]
            above, below = rig.split_moves[name]
            up += value * above
            down += value * below
            if name in HEAD:
                jaw_dx += value * float(above[len(above) // 2, 0])
                jaw_dy += value * float(above[len(above) // 2, 1])
        frame = cv2.remap(self.portrait, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        self.mouth.paint(frame, rig.split, up, down, jaw_dx, jaw_dy)
        return frame

    def _add(self, f: Field, weight: float) -> None:
        """Add weight x a field to the backward map (output p shows the portrait at p - D)."""
        mx, my = self._map_x[f.y0:f.y1, f.x0:f.x1], self._map_y[f.y0:f.y1, f.x0:f.x1]
        cv2.scaleAdd(f.d[..., 0], -weight, mx, mx)
        cv2.scaleAdd(f.d[..., 1], -weight, my, my)

    def _keyframed(self, name: str, value: float, moved: np.ndarray) -> None:
        """A non-linear parameter: blend the two keyframe fields around its value."""
        keys, moves = self.rig.keyframes[name], self.rig.keyframe_moves[name]
        pos = float(np.clip(value, 0.0, 1.0)) * len(keys)
        i = min(int(pos), len(keys) - 1)
        w = pos - i
        for index, weight in ((i - 1, 1.0 - w), (i, w)):
            if index >= 0 and weight > 1e-3:
                self._add(keys[index], weight)
                moved += weight * moves[index]


def rest() -> dict[str, float]:
    """All parameters at rest."""
    return dict.fromkeys(PARAMS, 0.0)
