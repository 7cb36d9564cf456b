"""MediaPipe face detector (BlazeFace short range) and 468-point face mesh on ONNX Runtime.

Both models were converted from TFLite at fetch time; inputs are NCHW. The detector sees a
128x128 letterboxed image scaled to [-1, 1]; the mesh sees a 192x192 crop scaled to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class Detection:
    """A face in image pixels: box (x0, y0, x1, y1), six keypoints and the detector's score."""

    box: tuple[float, float, float, float]
    keypoints: np.ndarray
    """(6, 2): right eye, left eye, nose tip, mouth, right ear, left ear (subject's sides)."""
    score: float

    @property
    def head_px(self) -> float:
        """Side of the head square the mesh sees (1.5 x the detector's face box), in pixels."""
        return 1.5 * max(self.box[2] - self.box[0], self.box[3] - self.box[1])


def _anchors() -> np.ndarray:
    """SSD anchor centres of BlazeFace short range: stride 8 (2 per cell), stride 16 (6 per cell)."""
    centres = []
    for stride, per_cell in ((8, 2), (16, 6)):
        cells = 128 // stride
        for y in range(cells):
            for x in range(cells):
                centres += [((x + 0.5) / cells, (y + 0.5) / cells)] * per_cell
    return np.array(centres, np.float32)


class FaceModels:
    """The detector and the mesh, loaded once."""

    def __init__(self, detector: Path, mesh: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        providers = ["CPUExecutionProvider"]
        self._detector = onnxruntime.InferenceSession(str(detector), options, providers=providers)
        self._mesh = onnxruntime.InferenceSession(str(mesh), options, providers=providers)
        self._anchors = _anchors()

    def detect(self, rgb: np.ndarray, threshold: float = 0.6) -> list[Detection]:
        """Faces in an RGB image, best first, after non-maximum suppression."""
        h, w = rgb.shape[:2]
        side = max(h, w)
        canvas = np.zeros((side, side, 3), np.uint8)
        canvas[:h, :w] = rgb
        small = cv2.resize(canvas, (128, 128), interpolation=cv2.INTER_AREA).astype(np.float32) / 127.5 - 1.0
        name = self._detector.get_inputs()[0].name
        regressors, scores = self._detector.run(None, {name: small.transpose(2, 0, 1)[None]})
        scores = 1.0 / (1.0 + np.exp(-np.clip(scores[0, :, 0], -80, 80)))
        found = []
        for i in np.argsort(-scores):
            if scores[i] < threshold:
                break
            r = regressors[0, i] / 128.0
            cx, cy = self._anchors[i] + r[:2]
            bw, bh = r[2], r[3]
            box = np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]) * side
            points = (self._anchors[i] + r[4:16].reshape(6, 2)) * side
            if all(_iou(box, d.box) < 0.3 for d in found):
                found.append(Detection(tuple(float(v) for v in box), points.astype(np.float32), float(scores[i])))
        return found

    def mesh(self, rgb: np.ndarray, detection: Detection) -> np.ndarray:
        """468 landmarks (x, y, z) in image pixels for a detected face (z: depth, same scale as x)."""
        return self.mesh_scored(rgb, detection)[0]

    def mesh_scored(self, rgb: np.ndarray, detection: Detection) -> tuple[np.ndarray, float]:
        """The landmarks and the mesh model's face-presence logit (a real face scores well above 10)."""
        right_eye, left_eye = detection.keypoints[0], detection.keypoints[1]
        angle = np.degrees(np.arctan2(left_eye[1] - right_eye[1], left_eye[0] - right_eye[0]))
        x0, y0, x1, y1 = detection.box
        centre = ((x0 + x1) / 2, (y0 + y1) / 2)
        size = max(x1 - x0, y1 - y0) * 1.5
        # Crop a rotated square around the face so the mesh sees it upright, then map back.
        rotation = cv2.getRotationMatrix2D(centre, angle, 192.0 / size)
        rotation[:, 2] += (96 - centre[0], 96 - centre[1])
        crop = cv2.warpAffine(rgb, rotation, (192, 192), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        name = self._mesh.get_inputs()[0].name
        out = self._mesh.run(None, {name: (crop.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]})
        points = out[0].reshape(468, 3)
        inverse = cv2.invertAffineTransform(rotation)
        xy = points[:, :2] @ inverse[:, :2].T + inverse[:, 2]
        z = points[:, 2:3] * (size / 192.0)
        return np.concatenate([xy, z], axis=1).astype(np.float32), float(np.ravel(out[1])[0])


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
