"""The camera: the hardware edge of presence. Frames come out as RGB arrays, are analysed in
memory and dropped by the caller; nothing here stores, sends or logs a frame.

`Camera` is the base; `DeviceCamera` opens a real one through OpenCV (a device index, a device
path, a GStreamer pipeline); `VideoFileCamera` plays a video file as if a camera filmed it (the
fake for tests and demos, paced by a clock the caller may drive).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from runtime.core.errors import CameraFault

_LOGGER = logging.getLogger(__name__)

_LOST_AFTER = 10
"""Failed reads in a row after which a device counts as gone (unplugged, driver failure)."""


class Camera:
    """A source of frames; `read()` returns the newest frame (RGB uint8) or None when there is none."""

    name = "camera"

    def open(self) -> None:
        """Open the source (CameraFault with a hint when it cannot be)."""

    def read(self) -> np.ndarray | None:
        """The newest frame, or None (no frame now)."""
        raise NotImplementedError

    @property
    def ended(self) -> bool:
        """The source will never deliver again (a video file played to its end)."""
        return False

    def gone(self) -> bool:
        """The device stopped delivering (it is closed and reopened by the caller)."""
        return False

    def close(self) -> None:
        """Release the source."""


class DeviceCamera(Camera):
    """A USB/CSI camera through OpenCV: a device index ("0"), a path ("/dev/video0") or a
    GStreamer pipeline ending in "appsink" (a Jetson's CSI camera)."""

    def __init__(self, source: str, width: int = 640, height: int = 480) -> None:
        self.source, self.width, self.height = source, width, height
        self.name = f"camera {source}" if len(source) < 40 else "camera (GStreamer pipeline)"
        self._cap: cv2.VideoCapture | None = None
        self._failures = 0

    def open(self) -> None:
        """Open the device; camera-not-found when it is missing or busy."""
        if self.source.isdigit():
            cap = cv2.VideoCapture(int(self.source))
        elif "appsink" in self.source:
            cap = cv2.VideoCapture(self.source, cv2.CAP_GSTREAMER)
        else:
            cap = cv2.VideoCapture(self.source)
        if not cap.isOpened():
            cap.release()
            raise CameraFault("camera-not-found", f"no camera at {self.source!r} (missing, busy or not a camera)",
                              "check [camera] source (a device index such as \"0\", a /dev/video path or a "
                              "GStreamer pipeline), the cable, and that the service may use video devices; "
                              "or set [camera] enabled = false")
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # the newest frame, not one queued seconds ago
        self._cap, self._failures = cap, 0

    def read(self) -> np.ndarray | None:
        """The newest frame as RGB (None after a failed read)."""
        if self._cap is None:
            return None
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            self._failures += 1
            return None
        self._failures = 0
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def gone(self) -> bool:
        """Reads have failed for a while."""
        return self._failures >= _LOST_AFTER

    def close(self) -> None:
        """Release the device."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class VideoFileCamera(Camera):
    """A video file as the camera: at every read, the frame the file shows at clock() since open
    (a still scene gives the same frame again, as a camera would). After its last frame the file
    has ended: nobody is in front of the kiosk any more."""

    def __init__(self, path: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.path, self.clock = path, clock
        self.name = f"video file {Path(path).name}"
        self._cap: cv2.VideoCapture | None = None
        self._fps = 0.0
        self._index = -1
        self._frame: np.ndarray | None = None
        self.started = 0.0
        """Clock time the file started playing (its first frame)."""
        self._ended = False

    def open(self) -> None:
        """Open the file and read its first frame (camera-not-found, camera-unreadable)."""
        if not Path(self.path).is_file():
            raise CameraFault("camera-not-found", f"{self.path}: no such video file",
                              "check [camera] source: a video file path, a device index such as \"0\" or a "
                              "/dev/video path")
        cap = cv2.VideoCapture(self.path)
        ok, bgr = cap.read() if cap.isOpened() else (False, None)
        if not ok or bgr is None:
            cap.release()
            raise CameraFault("camera-unreadable", f"{self.path} is not a video that can be decoded",
                              "give an MP4, MKV, AVI or WebM video file (H.264, VP8/9, MJPEG)")
        fps = cap.get(cv2.CAP_PROP_FPS)
        self._fps = fps if 0 < fps < 1000 else 25.0
        self._cap, self._index, self._frame = cap, 0, bgr
        self.started, self._ended = self.clock(), False

    def read(self) -> np.ndarray | None:
        """The frame due now as RGB; None once the file has ended."""
        if self._cap is None or self._ended:
            return None
        due = int((self.clock() - self.started) * self._fps)
        while self._index < due:
            ok, bgr = self._cap.read()
            if not ok or bgr is None:
                self._ended = True
                _LOGGER.info("camera: end of %s", self.name)
                return None
            self._index, self._frame = self._index + 1, bgr
        return cv2.cvtColor(self._frame, cv2.COLOR_BGR2RGB)

    @property
    def ended(self) -> bool:
        """The file has no more frames."""
        return self._ended

    def close(self) -> None:
        """Close the file."""
        if self._cap is not None:
            self._cap.release()
            self._cap = None
        self._frame = None


def is_device(source: str) -> bool:
    """A camera source that names a device or a pipeline (else it is a video file)."""
    return source.isdigit() or source.startswith("/dev/") or "appsink" in source


def open_camera(source: str, width: int = 640, height: int = 480) -> Camera:
    """The camera for [camera] source (not opened yet)."""
    return DeviceCamera(source, width, height) if is_device(source) else VideoFileCamera(source)
