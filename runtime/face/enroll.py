"""Enrollment: one portrait photo -> an aligned avatar bundle (portrait, landmarks, rig, metadata).

Handles real photos: any size, JPEG/PNG/WebP, 8- or 16-bit, grey or colour, transparent, EXIF
rotation, a face off-centre, small, mirrored, or rolled in the picture (even lying on its side:
it is levelled, and its yaw is judged with the roll removed). Refuses, with a code and a hint:
an unreadable file (avatar-bad-image), no face (avatar-no-face), a face too small to animate
(avatar-face-too-small), several faces when configured to refuse them (avatar-several-faces), a
head turned further than the rig can animate (avatar-face-turned), a detection the mesh does not
confirm as a face, or one upside down (avatar-face-unclear), and a face cut off by the
photo's edge (avatar-face-cut-off). Where the aligned portrait reaches past the photo (a head close
to the edge), the portrait is first enlarged a little so the photo fills it (a tilted close-up shows no
empty corner); what remains is filled from the photo's border, never with smeared edge pixels.
The photo itself is not kept unless asked.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from runtime.core.errors import AvatarFault
from runtime.core.limits import MAX_IMAGE_PIXELS
from runtime.engines.face_mediapipe import Detection, FaceModels
from runtime.face import landmarks as L

_LOGGER = logging.getLogger(__name__)

EYE_DISTANCE = 0.2
"""Distance between the eye centres in the aligned portrait, as a fraction of its width."""
EYE_HEIGHT = 0.42
"""Height of the eye line in the aligned portrait, as a fraction of its height."""
_HINT = "use a clear, front-facing photo of one person (JPEG, PNG or WebP)"
MAX_YAW_DEG = 35.0
"""Most the head may be turned sideways (estimated from the mesh) for the rig to animate it."""
MAX_ROLL_DEG = 95.0
"""Most the head may lean sideways in the photo (it is levelled); beyond it the photo is upside down."""
MAX_ZOOM = 1.35
"""Most a levelled portrait is enlarged (past EYE_DISTANCE) so that no corner lies beyond the photo."""
MIRROR_DEPTH = 0.03
"""How far past the photo's edge its mirrored border content reaches (fraction of the portrait)."""
MARGIN = 0.02
"""Least room kept between the face outline and the portrait's edge when enlarging (fraction)."""
MIN_PRESENCE = 10.0
"""Least face-presence logit of the mesh model: real faces score 25-50, animals and water below 0."""
MAX_DISAGREEMENT = 0.5
"""Most the detector's and the mesh's eye positions may differ (fraction of the eye distance)."""
HEAD_TOP = 0.3
"""How far the top of the skull lies above the top of the mesh's face outline (face heights)."""
HAIR_TOP = 0.55
"""How far the crown with a full head of hair may reach above the mesh's face outline (face heights)."""
MIN_ZOOM = 0.85
"""Least a portrait is shrunk (below EYE_DISTANCE) to keep the crown and its hair in the frame."""
BACKGROUND = (128, 128, 128)
"""Neutral grey that a transparent photo background becomes."""


@dataclass(frozen=True, slots=True)
class Enrolled:
    """An aligned portrait and its mesh, ready to be saved as a bundle."""

    portrait: np.ndarray
    landmarks: np.ndarray
    meta: dict


def load_photo(path: str | Path) -> np.ndarray:
    """The photo as RGB uint8, upright according to its EXIF orientation."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise AvatarFault("avatar-bad-image", f"{path} does not exist or is not a file", _HINT)
    try:
        with Image.open(path) as image:
            width, height = image.size  # from the header: nothing is decoded yet
            if width * height > MAX_IMAGE_PIXELS:
                raise AvatarFault("avatar-image-too-large", f"{path.name} has {width} x {height} pixels, more than "
                                  f"{MAX_IMAGE_PIXELS / 1e6:g} million", "send a photo of at most 6000 x 6000 pixels "
                                  "(a face needs far less)")
            return to_rgb(ImageOps.exif_transpose(image))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
        raise AvatarFault("avatar-bad-image", f"{path.name} is not a readable image: {err}", _HINT) from err


def to_rgb(image) -> np.ndarray:
    """A PIL image as 8-bit RGB. 16-bit and float greys are scaled (PIL's own conversion clips
    them, so a 16-bit grey photo turned white); a transparent background is laid on neutral grey
    (PIL's conversion drops the alpha, so it turned black, or whatever hid under it)."""
    from PIL import Image

    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        grey = np.asarray(image, dtype=np.float32)
        full = 1.0 if image.mode == "F" and grey.max() <= 1.0 else 65535.0  # a float grey in 0..1, else 16 bits
        image = Image.fromarray((grey * (255.0 / full)).clip(0, 255).round().astype(np.uint8), "L")
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (*BACKGROUND, 255)), rgba)
    return np.array(image.convert("RGB"))


def find_face(rgb: np.ndarray, models: FaceModels, *, several: str = "largest") -> tuple[Detection, int]:
    """The face to enroll, and how many faces the photo has; looks in overlapping tiles too, for a
    small face in a big photo."""
    faces = models.detect(rgb)
    if not faces:
        faces = _detect_in_tiles(rgb, models)
    if not faces:
        raise AvatarFault("avatar-no-face", "no face found in the photo", _HINT)
    if len(faces) > 1:
        if several == "refuse":
            raise AvatarFault("avatar-several-faces", f"{len(faces)} faces in the photo",
                              "crop the photo to one person, or set [avatar] several_faces = \"largest\"")
        _LOGGER.warning("avatar-several-faces: %d faces in the photo; enrolling the largest", len(faces))
    return max(faces, key=lambda f: f.head_px), len(faces)


def _detect_in_tiles(rgb: np.ndarray, models: FaceModels) -> list[Detection]:
    """The short-range detector wants the face to fill a good part of its input: look again in
    overlapping tiles of half and of a third of the photo."""
    h, w = rgb.shape[:2]
    found: list[Detection] = []
    for fraction in (0.5, 0.33):
        side = int(fraction * max(h, w))
        if side < 256:
            break
        step = side // 2
        for y in range(0, max(1, h - step), step):
            for x in range(0, max(1, w - step), step):
                for d in models.detect(rgb[y:y + side, x:x + side]):
                    box = (d.box[0] + x, d.box[1] + y, d.box[2] + x, d.box[3] + y)
                    shifted = Detection(box, d.keypoints + np.array([x, y], np.float32), d.score)
                    if all(_overlap(shifted.box, f.box) < 0.3 for f in found):
                        found.append(shifted)
        if found:
            break
    return found


def _refined(face: Detection, mesh: np.ndarray) -> Detection:
    """The detection re-centred on the first mesh (as MediaPipe's tracker does): the second mesh
    then depends on the face, not on where the detector happened to put its box."""
    oval = mesh[L.FACE_OVAL, :2]
    cx, cy = (oval.min(axis=0) + oval.max(axis=0)) / 2
    half = max(face.box[2] - face.box[0], face.box[3] - face.box[1]) / 2
    points = face.keypoints.copy()
    points[0], points[1] = mesh[L.RIGHT_EYE, :2].mean(axis=0), mesh[L.LEFT_EYE, :2].mean(axis=0)
    return Detection((cx - half, cy - half, cx + half, cy + half), points, face.score)


def _overlap(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return ix * iy / max(1e-6, min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])))


def enroll(photo: str | Path, models: FaceModels, *, resolution: int = 512, min_face_px: int = 128,
           several: str = "largest") -> Enrolled:
    """Detect, mesh and align the face of a photo into a resolution x resolution portrait."""
    started = time.perf_counter()
    rgb = load_photo(photo)
    face, faces = find_face(rgb, models, several=several)
    if face.head_px < min_face_px:
        raise AvatarFault("avatar-face-too-small", f"the face is {face.head_px:.0f} px, at least {min_face_px} "
                          "px are needed", "use a photo where the head is larger (closer or higher resolution)")
    mesh, presence = models.mesh_scored(rgb, _refined(face, models.mesh(rgb, face)))
    pose = check_face(face, mesh, presence, rgb.shape)
    right, left = mesh[L.RIGHT_EYE, :2].mean(axis=0), mesh[L.LEFT_EYE, :2].mean(axis=0)
    scale = EYE_DISTANCE * resolution / float(np.linalg.norm(left - right))
    angle = float(np.degrees(np.arctan2(left[1] - right[1], left[0] - right[0])))
    centre = (right + left) / 2
    matrix = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, scale)
    matrix[:, 2] += (0.5 * resolution - centre[0], EYE_HEIGHT * resolution - centre[1])
    matrix = _fill_frame(matrix, rgb.shape, mesh, resolution)
    scale = float(np.hypot(*matrix[0, :2]))
    portrait = _align(rgb, matrix, resolution, cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    landmarks = np.concatenate([mesh[:, :2] @ matrix[:, :2].T + matrix[:, 2], mesh[:, 2:] * scale], axis=1)
    meta = {"source_size": [int(rgb.shape[1]), int(rgb.shape[0])], "head_px": round(face.head_px, 1),
            "score": round(face.score, 3), "roll_deg": round(angle, 1), "scale": round(scale, 3), **pose,
            "resolution": resolution, "faces": faces, "enroll_s": round(time.perf_counter() - started, 3)}
    return Enrolled(portrait, landmarks.astype(np.float32), meta)


def head_yaw_deg(mesh: np.ndarray) -> float:
    """How far the head is turned sideways (degrees, from the depth of the cheeks in the mesh)."""
    across = mesh[L.CHEEKS[1]] - mesh[L.CHEEKS[0]]
    # The in-plane length, not the x extent: a head rolled in the picture (its cheeks one above the
    # other) is not turned, and the mesh's depth is measured in the upright crop anyway.
    return float(np.degrees(np.arctan2(across[2], float(np.hypot(across[0], across[1])) + 1e-6)))


def check_face(face: Detection, mesh: np.ndarray, presence: float, shape: tuple) -> dict:
    """Refuse what the rig cannot animate honestly; the pose figures for the metadata otherwise."""
    right, left = mesh[L.RIGHT_EYE, :2].mean(axis=0), mesh[L.LEFT_EYE, :2].mean(axis=0)
    eyes = float(np.linalg.norm(left - right)) + 1e-6
    disagreement = float(np.linalg.norm(face.keypoints[0] - right) + np.linalg.norm(face.keypoints[1] - left)) / 2
    roll = float(np.degrees(np.arctan2(left[1] - right[1], left[0] - right[0])))
    yaw = head_yaw_deg(mesh)
    unclear = "use a sharp, well-lit photo where one face is clearly visible, upright and front-facing"
    if presence < MIN_PRESENCE or disagreement / eyes > MAX_DISAGREEMENT:
        raise AvatarFault("avatar-face-unclear", f"what was detected does not look like a clear face "
                          f"(detector score {face.score:.2f}, mesh presence {presence:.1f})", unclear)
    if abs(yaw) > MAX_YAW_DEG:
        raise AvatarFault("avatar-face-turned", f"the head is turned {abs(yaw):.0f}° to the side; at most "
                          f"{MAX_YAW_DEG:.0f}° can be animated",
                          "use a photo where the person looks towards the camera")
    if abs(roll) > MAX_ROLL_DEG:
        raise AvatarFault("avatar-face-unclear", f"the face is rotated {abs(roll):.0f}° in the picture (upside down)",
                          "rotate the photo upright (or fix its EXIF orientation) and enroll it again")
    _check_inside(mesh, shape)
    return {"yaw_deg": round(yaw, 1), "presence": round(presence, 1)}


def _check_inside(mesh: np.ndarray, shape: tuple) -> None:
    """Refuse a face whose eyes, nose, mouth or chin, or much of its outline, lie outside the photo."""
    h, w = shape[:2]
    key = mesh[L.RIGHT_EYE + L.LEFT_EYE + L.LIPS_UPPER_OUTER + L.LIPS_LOWER_OUTER + [L.NOSE_TIP, L.CHIN], :2]
    oval = mesh[L.FACE_OVAL, :2]
    inside = (oval[:, 0] >= 0) & (oval[:, 0] < w) & (oval[:, 1] >= 0) & (oval[:, 1] < h)
    key_out = (key[:, 0] < 0) | (key[:, 0] >= w) | (key[:, 1] < 0) | (key[:, 1] >= h)
    if key_out.any() or inside.mean() < 0.6:
        raise AvatarFault("avatar-face-cut-off", "the face is cut off by the edge of the photo",
                          "use a photo that shows the whole head with a little room around it")


def _fill_frame(matrix: np.ndarray, shape: tuple, mesh: np.ndarray, resolution: int) -> np.ndarray:
    """Scale a levelled portrait about its eye centre: enlarged just enough that none of its corners
    lies beyond the photo, as far as the head (to the top of its skull) still fits, so a tilted
    close-up fills the frame instead of floating, rotated, on a made-up background; then, where the
    photo has room around the head, shrunk (at most to MIN_ZOOM) until the crown with its hair is in
    the frame too. The head and the photo decide, so every copy of a photo is framed the same."""
    h, w = shape[:2]
    pivot = np.array([0.5, EYE_HEIGHT]) * resolution
    corners = np.array([[0, 0], [resolution, 0], [0, resolution], [resolution, resolution]], np.float64)
    best = matrix
    for zoom in np.linspace(1.0, min(MAX_ZOOM, max(1.0, 1.0 / max(_room(matrix, mesh, resolution, HEAD_TOP),
                                                                         1e-6))), 15):
        best = _zoomed(matrix, pivot, zoom)
        if _inside(best, corners, w, h):
            break
    room = _room(best, mesh, resolution, HAIR_TOP, margin=0.005)
    if room <= 1.0:
        return best
    # (the head's size in the frame is proportional to the zoom: the zoom that fits it is exact, so
    # copies of a photo whose meshes differ by a pixel are framed within a pixel of each other)
    zoom = float(np.hypot(*best[0, :2]) / np.hypot(*matrix[0, :2]))
    low, high = max(MIN_ZOOM, zoom / room), zoom
    if _beyond(_zoomed(matrix, pivot, low), corners, w, h) > MIRROR_DEPTH * resolution:
        for _ in range(20):  # the least zoom whose corners the photo's border still continues
            mid = 0.5 * (low + high)
            low, high = (mid, high) if _beyond(_zoomed(matrix, pivot, mid), corners, w, h) > \
                MIRROR_DEPTH * resolution else (low, mid)
        low = high
    return _zoomed(matrix, pivot, low)


def _room(matrix: np.ndarray, mesh: np.ndarray, resolution: int, head_top: float, margin: float = MARGIN) -> float:
    """How much of the frame the head takes (1.0: its outline, or the top of its head `head_top` face
    heights above the outline's top, touches the margin)."""
    pivot = np.array([0.5, EYE_HEIGHT]) * resolution
    oval = mesh[L.FACE_OVAL, :2] @ matrix[:, :2].T + matrix[:, 2]
    top = oval[np.argmin(oval[:, 1])] - [0.0, head_top * float(np.ptp(oval[:, 1]))]
    oval = np.vstack([oval, top])
    space = np.where(oval < pivot, pivot - margin * resolution, (1 - margin) * resolution - pivot)
    return float(np.max(np.abs(oval - pivot) / space))


def _inside(matrix: np.ndarray, corners: np.ndarray, w: int, h: int) -> bool:
    """Whether all the portrait's corners lie on the photo."""
    return _beyond(matrix, corners, w, h) <= 0.0


def _beyond(matrix: np.ndarray, corners: np.ndarray, w: int, h: int) -> float:
    """How far (portrait pixels) the portrait's furthest corner lies beyond the photo (0: on it)."""
    inverse = cv2.invertAffineTransform(matrix)
    back = corners @ inverse[:, :2].T + inverse[:, 2]
    out = float(np.maximum(np.maximum(-0.5 - back, back - [w - 0.5, h - 0.5]), 0.0).max())
    return out * float(np.hypot(*matrix[0, :2]))


def _zoomed(matrix: np.ndarray, pivot: np.ndarray, zoom: float) -> np.ndarray:
    """The alignment scaled by `zoom` about `pivot` (portrait pixels)."""
    out = matrix.copy()
    out[:, :2] *= zoom
    out[:, 2] = zoom * (matrix[:, 2] - pivot) + pivot
    return out


def _align(rgb: np.ndarray, matrix: np.ndarray, resolution: int, interpolation: int) -> np.ndarray:
    """Warp the photo into the portrait; what lies beyond the photo continues its border: mirrored
    near the edge (a corner continues the wall or shirt next to it), smooth further out."""
    size = (resolution, resolution)
    portrait = cv2.warpAffine(rgb, matrix, size, flags=interpolation, borderMode=cv2.BORDER_REPLICATE)
    valid = cv2.warpAffine(np.full(rgb.shape[:2], 255, np.uint8), matrix, size, flags=cv2.INTER_NEAREST,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if valid.min() == 255:
        return portrait
    valid = cv2.erode(valid, np.ones((3, 3), np.uint8))  # edge pixels of the warp are half border
    # Near the photo's edge its own content mirrored (texture, not a glow); deeper in, where a mirror
    # would show a second face, a smooth continuation.
    mirrored = cv2.warpAffine(rgb, matrix, size, flags=interpolation, borderMode=cv2.BORDER_REFLECT_101)
    depth = cv2.distanceTransform((valid == 0).astype(np.uint8), cv2.DIST_L2, 3)
    near = np.clip(1.5 - depth / (MIRROR_DEPTH * resolution), 0, 1)[..., None]
    smooth = _push_pull(portrait.astype(np.float32), (valid > 0).astype(np.float32))
    filled = cv2.GaussianBlur(mirrored, (0, 0), 1.5).astype(np.float32) * near + smooth * (1 - near)
    weight = cv2.GaussianBlur(valid, (0, 0), 2.0).astype(np.float32)[..., None] / 255.0
    return (portrait * weight + filled * (1 - weight) + 0.5).clip(0, 255).astype(np.uint8)


def _push_pull(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill unknown pixels with a smooth continuation of the known ones (a blurred, streak-free
    extension, like an out-of-focus background), by averaging down a pyramid and back up."""
    if known.min() > 0 or image.shape[0] < 4:
        return image
    small_w = cv2.resize(known, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    small = cv2.resize(image * known[..., None], None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    small = small / np.maximum(small_w, 1e-6)[..., None]
    coarse = _push_pull(small, (small_w > 1e-3).astype(np.float32))
    coarse = cv2.GaussianBlur(coarse, (0, 0), 1.0)
    up = cv2.resize(coarse, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.where(known[..., None] > 0, image, up)
