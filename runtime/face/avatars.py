"""Avatar operations behind the CLI (and later MQTT/API): enroll, default, preview sheet."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from runtime.config import AvatarConfig, Settings
from runtime.core.errors import AvatarFault
from runtime.face import bundle, glasses
from runtime.face import landmarks as L
from runtime.face.enroll import enroll
from runtime.face.lips import lip_gap, parting_line
from runtime.face.moods import ACTIVITIES, EMOTIONS, Activity
from runtime.face.mouth import shows_teeth
from runtime.face.render import FaceRenderer
from runtime.face.rig import build_rig
from runtime.places import Places
from runtime.speech.visemes import TARGETS, Viseme
from runtime.store.models import ModelStore

FACE_MODELS = ("face-detector", "face-mesh")
"""Manifest models that enrollment uses."""
DEFAULT_PORTRAIT = "portrait-astronaut"
"""The bundled photo the default avatar is enrolled from."""


def face_models(settings: Settings | None = None, store: ModelStore | None = None):
    """The detector and mesh from the model store (else from the one the settings name)."""
    from runtime.engines.face_mediapipe import FaceModels

    store = store or Places.of(settings.paths).models
    store.require(list(FACE_MODELS))
    return FaceModels(store.path(FACE_MODELS[0], "face_detection_short_range.onnx"),
                      store.path(FACE_MODELS[1], "face_landmark.onnx"))


def models_needed(state: Path, name: str) -> list[str]:
    """Manifest models that showing avatar `name` (of this state directory) needs: none once it is
    enrolled; the bundled portrait and the face models when the default avatar is enrolled on
    first use."""
    if name == bundle.DEFAULT and name not in bundle.names(state):
        return [*FACE_MODELS, DEFAULT_PORTRAIT]
    return []


def enroll_photo(settings: Settings, photo: Path, name: str, *, replace: bool = False) -> Path:
    """enroll_photo_in() the places the settings name."""
    return enroll_photo_in(Places.of(settings.paths), settings.avatar, photo, name, replace=replace)


def enroll_photo_in(places: Places, cfg: AvatarConfig, photo: Path, name: str, *, replace: bool = False) -> Path:
    """Enroll a photo as avatar `name` in the state directory; avatar-exists when the name is
    taken, unless replace (then the avatar switches to the new photo atomically)."""
    if not replace:
        bundle.refuse_existing(places.state, name)  # before the work; save() checks again under its lock
    enrolled = enroll(photo, face_models(store=places.models), resolution=cfg.resolution,
                      min_face_px=cfg.min_face_px, several=cfg.several_faces)
    return bundle.save(places.state, name, enrolled, photo if cfg.keep_original else None, replace=replace)


def load_avatar(settings: Settings, name: str | None = None) -> bundle.Avatar:
    """load_avatar_in() the places the settings name."""
    return load_avatar_in(Places.of(settings.paths), settings.avatar, name)


def load_avatar_in(places: Places, cfg: AvatarConfig, name: str | None = None) -> bundle.Avatar:
    """An avatar by name (else [avatar] name); the default one is enrolled from the bundled
    portrait on first use."""
    name = name or cfg.name
    if name == bundle.DEFAULT and name not in bundle.names(places.state):
        places.models.require(models_needed(places.state, name))
        try:
            enroll_photo_in(places, cfg, places.models.path(DEFAULT_PORTRAIT, "astronaut.png"), bundle.DEFAULT)
        except AvatarFault as fault:
            if fault.code != "avatar-exists":
                raise  # else another process enrolled it meanwhile: use theirs
    return bundle.load(places.state, name)


def renderer(avatar: bundle.Avatar) -> FaceRenderer:
    """A renderer for a loaded avatar."""
    teeth = shows_teeth(avatar.portrait, avatar.landmarks)
    split = parting_line(avatar.portrait, avatar.landmarks, teeth)
    still = glasses.still_weight(avatar.portrait, avatar.landmarks)
    gap = lip_gap(avatar.portrait, avatar.landmarks)
    rig = build_rig(avatar.landmarks, avatar.portrait.shape[0], split, still, teeth, gap, avatar.portrait)
    return FaceRenderer(avatar.portrait, avatar.landmarks, rig)


def mouth_region(landmarks: np.ndarray) -> tuple[slice, slice]:
    """Rows and columns around the lips and the jaw's travel: where mouth opening is measured."""
    lips = landmarks[L.LIPS_UPPER_OUTER + L.LIPS_LOWER_OUTER, :2]
    (x0, y0), (x1, y1) = lips.min(axis=0).astype(int) - 12, lips.max(axis=0).astype(int) + 40
    return slice(y0, y1), slice(x0, x1)


def mouth(viseme: Viseme, amount: float = 1.0) -> dict[str, float]:
    """Renderer mouth parameters of a viseme class (as the animator maps them)."""
    jaw, spread, rnd, press, teeth = TARGETS[viseme]
    return {"jaw_open": jaw * amount, "lip_spread": spread, "lip_round": rnd, "lip_press": max(press, 0.5 * teeth)}


POSES = {
    "rest": {},
    "A": mouth(Viseme.AA),
    "E": mouth(Viseme.E),
    "O": mouth(Viseme.O),
    "M/B/P": mouth(Viseme.PP),
    "F/V": mouth(Viseme.FF),
    "joy": dict(EMOTIONS["happy"]),
    "sympathy": dict(EMOTIONS["concerned"]),
    "surprise": dict(EMOTIONS["surprised"], jaw_open=0.35),
    "half blink": {"blink_left": 0.5, "blink_right": 0.5},
    "blink": {"blink_left": 1.0, "blink_right": 1.0},
    "thinking": dict(ACTIVITIES[Activity.THINKING], gaze_x=0.6, gaze_y=-0.8),
}


def contact_sheet(face: FaceRenderer, columns: int = 3) -> np.ndarray:
    """Key poses side by side, labelled (RGB)."""
    tiles = []
    for label, params in POSES.items():
        frame = face.render(params).copy()
        cv2.putText(frame, label, (12, 36), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 0, 0), 4, cv2.LINE_AA)
        cv2.putText(frame, label, (12, 36), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2, cv2.LINE_AA)
        tiles.append(frame)
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.concatenate(tiles[i:i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)
