"""presence actor: the camera's frames in, `Visitor` messages out (approach, present, left).

At [camera] fps it takes the newest frame, finds the faces in it (BlazeFace short range), keeps
the nearest one's position and size, and drops the frame: no frame is stored, sent or logged.
A camera that cannot be opened or stops delivering is reported once (camera-*: the actor is
degraded, the conversation goes on without presence) and reopened every few seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from runtime.config import PresenceConfig
from runtime.core.actor import Actor
from runtime.core.errors import CameraFault
from runtime.core.messages import Visitor, VisitorChange
from runtime.face.presence import PresenceTracker, Sighting, nearest_face
from runtime.hardware.camera import Camera

_LOGGER = logging.getLogger(__name__)


class PresenceActor(Actor):
    """Watches the camera for the visitor; `camera_factory` returns a Camera (not opened),
    `detector_factory` the face models (their `detect(rgb)`)."""

    abandon_on_stop = True  # a detection in native code; nothing is lost
    nice = 10  # background watching: the face, the speaker and the conversation come first
    retry_s = 5.0

    def __init__(self, name: str, bus, *, camera_factory: Callable[[], Camera], detector_factory: Callable,
                 settings: PresenceConfig, fps: float = 5.0, mirrored: bool = False,
                 clock: Callable[[], float] = time.monotonic, **kwargs) -> None:
        super().__init__(name, bus, **kwargs)
        self.tick_interval_s = 1.0 / fps
        self._camera_factory, self._detector_factory = camera_factory, detector_factory
        self.settings, self.mirrored, self.clock = settings, mirrored, clock
        self.tracker = PresenceTracker(settings)
        self.camera: Camera | None = None
        self.detector = None
        self._retry_at = 0.0
        self._last: Sighting | None = None

    def setup(self) -> None:
        """Load the detector and open the camera (a camera that fails is retried, never fatal)."""
        self.detector = self._detector_factory()
        self._open()

    def _open(self) -> bool:
        camera = self._camera_factory()
        try:
            camera.open()
        except CameraFault as fault:
            self._retry_at = self.clock() + self.retry_s
            if self.degraded != fault.code:
                _LOGGER.warning("%s (%s); presence is off until it works, retrying every %.0f s", fault,
                                fault.hint, self.retry_s)
                self.degrade(fault)
            return False
        self.camera = camera
        self.recover()
        _LOGGER.info("presence: watching %s", camera.name)
        return True

    def teardown(self) -> None:
        """Close the camera."""
        if self.camera is not None:
            self.camera.close()

    def tick(self) -> None:
        """Analyse the newest frame; with no camera (or a file played out) nobody is seen."""
        now = self.clock()
        camera = self.camera
        if camera is None:
            if now >= self._retry_at and self._open():
                return
            self._see(None, now)
            return
        rgb = camera.read()
        if camera.gone():
            camera.close()
            self.camera, self._retry_at = None, now + self.retry_s
            self.degrade(CameraFault("camera-lost", f"{camera.name} stopped delivering frames",
                                     "check its cable or USB port; it is reopened as soon as it is back"))
            _LOGGER.warning("camera-lost: %s went away; retrying every %.0f s", camera.name, self.retry_s)
        if rgb is None:
            if camera.ended or self.camera is None:
                self._see(None, now)
            return
        height, width = rgb.shape[:2]
        faces = self.detector.detect(rgb, threshold=self.settings.min_score)
        del rgb  # the frame ends here: only the nearest face's position and size go on
        self._see(nearest_face(faces, width, height, min_score=self.settings.min_score,
                               frontal=self.settings.frontal, mirrored=self.mirrored), now)

    def _see(self, sighting: Sighting | None, now: float) -> None:
        change = self.tracker.update(sighting, now)
        if change is None:
            return
        if change == VisitorChange.LEFT:
            self.publish(Visitor(turn=self.turn, change=change))
            _LOGGER.info("presence: the visitor left")
            return
        assert sighting is not None
        self.publish(Visitor(turn=self.turn, change=change, x=round(sighting.x, 3), y=round(sighting.y, 3),
                             distance=self.tracker.distance(sighting)))
        if change == VisitorChange.APPROACH:
            _LOGGER.info("presence: a visitor approached (%s)", self.tracker.distance(sighting))
