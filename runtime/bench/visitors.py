"""Test videos of visitors: real portraits scaled in (approaching) and out (leaving) over a room,
written as H.264 with PyAV. The presence bench and tests make theirs with this; each knows
from its script when a face crosses a size, so detection times are measured against it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np

PORTRAITS = Path(__file__).resolve().parents[2] / "tests" / "data" / "portraits"
"""The test portraits (tests/data/portraits/SOURCES.md: where each comes from and its licence)."""


@dataclass(frozen=True, slots=True)
class Shot:
    """One stretch of the video: a portrait (None: the empty room) whose face height goes from
    size_from to size_to (fractions of the picture's height) over duration_s, centred at x (-1..1)."""

    duration_s: float
    portrait: str | None = None
    size_from: float = 0.0
    size_to: float = 0.0
    x: float = 0.0

    def size_at(self, t_s: float) -> float:
        """Face height at t_s into this shot."""
        return self.size_from + (self.size_to - self.size_from) * min(1.0, t_s / self.duration_s)


def room(width: int, height: int) -> np.ndarray:
    """A plain room: a wall with a gradient, a floor, a door and a picture frame (RGB)."""
    y = np.linspace(0, 1, height)[:, None, None]
    wall = (np.array([200, 195, 185]) * (0.85 + 0.15 * y)).astype(np.uint8)
    img = np.broadcast_to(wall, (height, width, 3)).copy()
    img[int(0.75 * height):] = (120, 100, 80)
    def at(fx: float, fy: float) -> tuple[int, int]:
        return int(fx * width), int(fy * height)

    cv2.rectangle(img, at(0.08, 0.2), at(0.22, 0.75), (150, 110, 70), -1)
    cv2.rectangle(img, at(0.6, 0.2), at(0.85, 0.45), (70, 90, 120), 4)
    return img


def head_crop(portrait: Path, face_models) -> tuple[np.ndarray, float]:
    """The head and shoulders of a portrait's largest face, and its face height in that crop (pixels)."""
    import PIL.Image

    rgb = np.asarray(PIL.Image.open(portrait).convert("RGB"))
    faces = face_models.detect(rgb)
    if not faces:
        raise ValueError(f"{portrait}: no face found")
    x0, y0, x1, y1 = max(faces, key=lambda d: d.box[3] - d.box[1]).box
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = int(max(0, cx - 1.3 * w)), int(max(0, cy - 1.2 * h))
    right, bottom = int(min(rgb.shape[1], cx + 1.3 * w)), int(min(rgb.shape[0], cy + 1.6 * h))
    return np.ascontiguousarray(rgb[top:bottom, left:right]), float(h)


def frame(background: np.ndarray, head: tuple[np.ndarray, float] | None, size: float, x: float) -> np.ndarray:
    """The room with a head whose face is `size` of the picture's height, centred at x."""
    img = background.copy()
    if head is None or size <= 0:
        return img
    crop, face_h = head
    height, width = img.shape[:2]
    scale = size * height / face_h
    scaled = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    sh, sw = scaled.shape[:2]
    left = int((x + 1) / 2 * width - sw / 2)
    top = int(0.45 * height - 0.45 * sh)
    # Paste what falls inside the picture.
    x0, y0, x1, y1 = max(0, left), max(0, top), min(width, left + sw), min(height, top + sh)
    if x1 > x0 and y1 > y0:
        img[y0:y1, x0:x1] = scaled[y0 - top:y1 - top, x0 - left:x1 - left]
    return img


def write_video(path: Path, shots: list[Shot], face_models, *, width: int = 640, height: int = 360,
                fps: int = 10) -> float:
    """Write the shots as an H.264 MP4; returns its length (seconds)."""
    background = room(width, height)
    heads = {s.portrait: head_crop(PORTRAITS / s.portrait, face_models) for s in shots if s.portrait}
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        total = 0
        for shot in shots:
            head = heads.get(shot.portrait)
            for i in range(round(shot.duration_s * fps)):
                rgb = frame(background, head, shot.size_at(i / fps), shot.x)
                for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    out.mux(packet)
                total += 1
        for packet in stream.encode():
            out.mux(packet)
    return total / fps


def crossing(shots: list[Shot], size: float, *, rising: bool, fps: int = 10) -> float:
    """When the video's face first crosses `size` (rising: grows past it; else: shrinks below it or
    vanishes), in seconds from the start; the first frame at or past it, as written."""
    start = 0.0
    was = 0.0
    for shot in shots:
        for i in range(round(shot.duration_s * fps)):
            now = shot.size_at(i / fps) if shot.portrait else 0.0
            if (rising and was < size <= now) or (not rising and was >= size > now):
                return start + i / fps
            was = now
        start += shot.duration_s
    raise ValueError(f"the face never {'grows past' if rising else 'shrinks below'} {size}")
