"""Who stands in front of the kiosk, from face detections: the nearest face that looks at the
kiosk is the visitor; approach, present and leaving follow from its size over time.

No bus and no threads: the presence actor feeds it one analysed frame at a time. Only a face's
position and size are kept, never the picture or anything that tells people apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime.config import PresenceConfig
from runtime.core.messages import VisitorChange

STAY = 0.75
"""A visitor counts as still there while their face is at least this share of approach_size
(hysteresis: someone at the threshold does not come and go with every frame)."""


@dataclass(frozen=True, slots=True)
class Sighting:
    """The nearest face in one frame."""

    x: float
    """Centre across the picture, -1 (left) .. 1 (right), as if the camera did not mirror."""
    y: float
    """Centre down the picture, -1 (top) .. 1 (bottom)."""
    size: float
    """Face height as a fraction of the picture's height."""


def detect_tiles(models, rgb: np.ndarray, threshold: float) -> list:
    """Faces in a whole frame: the detector sees squares as tall as the frame, overlapping along its
    long side (one square of the whole frame would shrink a face at two metres below what the
    short-range detector finds); a face found in two squares counts once."""
    from runtime.engines.face_mediapipe import Detection

    height, width = rgb.shape[:2]
    side = min(height, width)
    span = max(height, width) - side
    count = 1 if span == 0 else 1 + int(np.ceil(span / (0.75 * side)))
    found: list[Detection] = []
    for i in range(count):
        offset = round(span * i / max(1, count - 1))
        dx, dy = (offset, 0) if width >= height else (0, offset)
        for det in models.detect(rgb[dy:dy + side, dx:dx + side], threshold):
            x0, y0, x1, y1 = det.box
            moved = Detection((x0 + dx, y0 + dy, x1 + dx, y1 + dy), det.keypoints + np.float32([dx, dy]), det.score)
            if all(_overlap(moved.box, other.box) < 0.3 for other in found):
                found.append(moved)
    return found


def _overlap(a, b) -> float:
    """Intersection over the smaller box."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / smaller if smaller > 0 else 0.0


def nearest_face(detections, width: int, height: int, *, min_score: float, frontal: float,
                 mirrored: bool = False) -> Sighting | None:
    """The largest face scoring at least min_score whose nose sits within `frontal` eye distances
    of the middle of its eyes (it looks at the kiosk); None when there is none."""
    best: Sighting | None = None
    for det in detections:
        if det.score < min_score:
            continue
        right_eye, left_eye, nose = det.keypoints[0], det.keypoints[1], det.keypoints[2]
        eye_d = float(np.linalg.norm(left_eye - right_eye))
        if eye_d <= 0 or abs(nose[0] - (right_eye[0] + left_eye[0]) / 2) > frontal * eye_d:
            continue
        x0, y0, x1, y1 = det.box
        size = (y1 - y0) / height
        if best is None or size > best.size:
            x = (x0 + x1) / width - 1.0
            best = Sighting(-x if mirrored else x, (y0 + y1) / height - 1.0, size)
    return best


class PresenceTracker:
    """Turns sightings (or their absence) into visitor changes."""

    def __init__(self, cfg: PresenceConfig) -> None:
        self.cfg = cfg
        self.present = False
        self._streak = 0
        self._last_seen = 0.0

    def distance(self, sighting: Sighting) -> str:
        """`close`, `near` or `far` by the face's size."""
        if sighting.size >= self.cfg.close_size:
            return "close"
        return "near" if sighting.size >= self.cfg.approach_size else "far"

    def update(self, sighting: Sighting | None, t_s: float) -> VisitorChange | None:
        """One analysed frame (None: no face) at time t_s (seconds); the change it makes, if any
        (PRESENT for every frame that shows the visitor still there)."""
        cfg = self.cfg
        if not self.present:
            self._streak = self._streak + 1 if sighting is not None and sighting.size >= cfg.approach_size else 0
            if self._streak >= cfg.approach_frames:
                self.present, self._last_seen = True, t_s
                return VisitorChange.APPROACH
            return None
        if sighting is not None and sighting.size >= STAY * cfg.approach_size:
            self._last_seen = t_s
            return VisitorChange.PRESENT
        if t_s - self._last_seen >= cfg.leave_s:
            self.present, self._streak = False, 0
            return VisitorChange.LEFT
        return None
