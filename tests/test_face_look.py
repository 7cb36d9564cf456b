"""The face's look on real portraits, judged from pixels: teeth, cavity edge, blinks, expressions,
and honest enrollment. Portraits and their licences: tests/data/portraits/SOURCES.md."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from runtime.core.config import Settings
from runtime.core.errors import AvatarFault
from runtime.face import avatars
from runtime.face import landmarks as L
from runtime.face.animator import Animator
from runtime.face.bundle import Avatar
from runtime.face.enroll import enroll
from runtime.speech.visemes import Viseme

PORTRAITS = Path(__file__).parent / "data" / "portraits"
SMILES = ["man_darkskin_smile_teeth.jpg", "man_beard_smile_teeth_turned20_tilted.jpg",
          "woman_sunglasses_smile_small_face.jpg"]
CLOSED = ["woman_older_glasses_neutral.jpg", "man_older_turned15.jpg"]
ALL = [*SMILES, *CLOSED, "two_people_bar_flash.jpg"]


@pytest.fixture(scope="module")
def models():
    return avatars.face_models(Settings())


@pytest.fixture(scope="module")
def faces(models):
    made = {}
    for name in ALL:
        enrolled = enroll(PORTRAITS / name, models)
        made[name] = avatars.renderer(Avatar(name, enrolled.portrait, enrolled.landmarks, enrolled.meta))
    return made


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)


def teeth_like(rgb: np.ndarray, light: float) -> np.ndarray:
    """Pixels a visitor would call teeth: light, and not red like lips, gums or tongue."""
    rgb = rgb.astype(np.float32)
    return (luma(rgb) > light) & (rgb[..., 0] - rgb[..., 1] < 0.25 * rgb[..., 0] + 8)


def mouth_width(face) -> float:
    return float(np.linalg.norm(face.landmarks[61] - face.landmarks[291]))


def inner_mouth_mask(face) -> np.ndarray:
    poly = face.landmarks[L.INNER_MOUTH].round().astype(np.int32)
    return cv2.fillPoly(np.zeros(face.portrait.shape[:2], np.uint8), [poly], 1).astype(bool)


def skin_light(face) -> float:
    """90th percentile brightness of the cheeks: the photo's light level."""
    r = int(0.04 * np.linalg.norm(face.landmarks[33] - face.landmarks[263]))
    patches = [face.portrait[int(y) - r:int(y) + r, int(x) - r:int(x) + r] for x, y in face.landmarks[[50, 280]]]
    return float(np.percentile(luma(np.concatenate([p.reshape(-1, 3) for p in patches])), 90))


@pytest.mark.parametrize("name", ALL)
def test_rest_frame_is_the_portrait(faces, name):
    face = faces[name]
    assert cv2.PSNR(face.render({}), face.portrait) >= 35


@pytest.mark.parametrize("name", SMILES[:2])
def test_open_vowels_keep_the_upper_teeth_a_smile_showed(faces, name):
    """The teeth the portrait shows hang from the upper jaw: an A or an E drops the jaw and
    the lower lip, not the teeth (they do not shrink into a strip under a black bar)."""
    face = faces[name]
    inner = inner_mouth_mask(face)
    light = 0.7 * float(np.percentile(luma(face.portrait[inner]), 95))
    rest_teeth = teeth_like(face.portrait, light) & inner
    upper_half = np.zeros_like(inner)
    ys, _ = np.nonzero(inner)
    upper_half[: int(np.percentile(ys, 60))] = True  # teeth at rest in the upper 60 % of the opening
    band = rest_teeth & upper_half
    assert band.sum() > 100, "the portrait shows no teeth?"
    for viseme in (Viseme.AA, Viseme.E):  # (an O's rounded lips cover the side teeth, as they should)
        frame = face.render(avatars.mouth(viseme))
        kept = (teeth_like(frame, light) & band).sum() / band.sum()
        assert kept > 0.75, f"{viseme}: only {kept:.0%} of the upper teeth are still there"


@pytest.mark.parametrize("name", CLOSED)
def test_a_closed_mouth_gets_real_looking_teeth_when_it_opens(faces, name):
    """A portrait that never showed teeth gets plausible ones: teeth-light pixels just under the
    upper lip, as separate teeth (not one flat bar), never a black hole."""
    face = faces[name]
    mw = mouth_width(face)
    frame = face.render(avatars.mouth(Viseme.AA))
    centre = face.landmarks[[13, 14]].mean(axis=0)
    top = int(centre[1]) + 1
    rows = slice(top, top + int(0.07 * mw))
    cols = slice(int(centre[0] - 0.25 * mw), int(centre[0] + 0.25 * mw))
    found = teeth_like(frame[rows, cols], 0.75 * skin_light(face))
    assert found.mean() > 0.3, f"only {found.mean():.0%} of the band under the upper lip looks like teeth"
    # Separate teeth: brightness along the row dips at the gaps between them.
    profile = luma(frame[top + int(0.04 * mw), cols]).astype(float)
    profile = np.convolve(profile, np.ones(3) / 3, mode="same")[2:-2]
    dips = [i for i in range(1, len(profile) - 1)
            if profile[i] < profile[i - 1] and profile[i] <= profile[i + 1]
            and profile[i] < 0.93 * max(profile[max(0, i - 6):i + 7])]
    assert len(dips) >= 3, f"the teeth read as one bar ({len(dips)} gaps)"


def ramp_width(profile: np.ndarray) -> int:
    """Pixels a dark-to-light step takes to go from 10 % to 90 % of its contrast."""
    start = int(np.argmin(profile))
    lo, hi = profile[start], np.median(profile[-4:])
    after = profile[start:]
    first = int(np.argmax(after > lo + 0.1 * (hi - lo)))
    last = int(np.argmax(after >= lo + 0.9 * (hi - lo)))
    return last - first + 1


@pytest.mark.parametrize("name", ["woman_older_glasses_neutral.jpg", "man_darkskin_smile_teeth.jpg",
                                  "man_older_turned15.jpg"])
def test_the_cavity_edge_is_soft(faces, name):
    """Across the sides of an open mouth, dark cavity to lip is a ramp of >= 2 px, not a hard step."""
    face = faces[name]
    mw = mouth_width(face)
    for viseme in (Viseme.AA, Viseme.O):
        frame = luma(face.render(avatars.mouth(viseme))).astype(float)
        cx, cy = face.landmarks[[13, 14]].mean(axis=0)
        box = frame[int(cy):int(cy + 0.4 * mw), int(cx - 0.6 * mw):int(cx + 0.6 * mw)]
        row = int(cy) + int(np.argmax((box < 0.3 * box.max()).sum(axis=1)))  # the widest dark row
        half = int(0.7 * mw)
        right = frame[row, int(cx):int(cx) + half]
        left = frame[row, int(cx) - half:int(cx)][::-1]
        widths = [ramp_width(left), ramp_width(right)]
        assert min(widths) >= 2, f"{viseme}: hard edge at the side of the mouth ({widths} px)"


def anisotropy(gray: np.ndarray) -> float:
    """Energy of left-right changes over up-down changes: vertical streaks make it large."""
    gray = gray.astype(np.float32)
    gx = np.abs(np.diff(gray, axis=1)).mean()
    gy = np.abs(np.diff(gray, axis=0)).mean()
    return float(gx / max(gy, 1e-3))


def eye_box(face, eye) -> tuple[slice, slice]:
    pts = face.landmarks[eye]
    e = float(np.linalg.norm(face.landmarks[33] - face.landmarks[263]))
    x0, y0 = pts.min(axis=0) - np.array([0.02, 0.3]) * e
    x1, y1 = pts.max(axis=0) + np.array([0.02, 0.06]) * e
    return slice(int(y0), int(y1)), slice(int(x0), int(x1))


@pytest.mark.parametrize("name", ALL)
def test_a_blink_closes_the_eye_without_streaks(faces, name):
    """At every phase of a blink the eye region has no smeared streaks: its horizontal-vs-vertical
    gradient energy stays close to what the portrait's own skin and eyes have."""
    face = faces[name]
    rest = cv2.cvtColor(face.render({}), cv2.COLOR_RGB2GRAY)
    for eye, side in ((L.RIGHT_EYE, "blink_right"), (L.LEFT_EYE, "blink_left")):
        box = eye_box(face, eye)
        allowed = 1.25 * anisotropy(rest[box])
        for amount in (0.35, 0.7, 1.0):
            gray = cv2.cvtColor(face.render({side: amount}), cv2.COLOR_RGB2GRAY)
            assert anisotropy(gray[box]) < allowed, f"{side} {amount}: streaks ({anisotropy(gray[box]):.2f})"


def mesh_of(models, frame):
    found = models.detect(frame)
    assert found, "the rendered face is no longer detected as a face"
    return models.mesh(frame, max(found, key=lambda f: f.score))[:, :2]  # (not a second person)


def settled(face, emotion: str) -> np.ndarray:
    animator = Animator(seed=5)
    animator.feel(emotion, 1.0)
    params = {}
    for i in range(40):
        params = animator.params(i / 60)
    params = {k: v for k, v in params.items() if not k.startswith(("gaze", "head"))}  # no blink yet at 0.65 s
    return face.render(params)


def dark_eye_pixels(face, frame) -> int:
    """Iris and pupil pixels inside both eye openings (a little grown): fewer when the eyes narrow."""
    gray = luma(frame)
    limit = 0.5 * skin_light(face)
    e = float(np.linalg.norm(face.landmarks[33] - face.landmarks[263]))
    mask = np.zeros(gray.shape, np.uint8)
    for eye in (L.RIGHT_EYE, L.LEFT_EYE):
        cv2.fillPoly(mask, [face.landmarks[eye].round().astype(np.int32)], 1)
    mask = cv2.dilate(mask, np.ones((3, 3), np.uint8), iterations=max(1, round(0.02 * e))).astype(bool)
    return int((gray[mask] < limit).sum())


def brow_row(gray: np.ndarray, x: float, y: float, reach: int) -> float:
    """Row of the darkest band (the brow) in a narrow column strip around x, searched around y."""
    strip = gray[int(y) - reach:int(y) + reach, int(x) - 3:int(x) + 4].mean(axis=1)
    strip = np.convolve(strip, np.ones(3) / 3, mode="same")[1:-1]
    return int(y) - reach + 1 + int(np.argmin(strip))


@pytest.mark.parametrize("name", ALL)
def test_joy_lifts_the_corners_narrows_the_eyes_and_raises_the_brows(faces, models, name):
    """Joy reads on every portrait, also a neutral older face: corners clearly up (more than 7 %
    of the eye distance), cheeks up, eyes narrower. Corners, cheeks and brows are measured by
    the face mesh model on the rendered frames, the eyes by their dark (iris and pupil) pixels."""
    face = faces[name]
    frame = settled(face, "happy")
    rest, joy = mesh_of(models, face.render({})), mesh_of(models, frame)
    e = float(np.linalg.norm(rest[33] - rest[263]))
    corners = (rest[[61, 291], 1] - joy[[61, 291], 1]).mean()
    cheeks = (rest[[50, 280], 1] - joy[[50, 280], 1]).mean()
    brows = (rest[L.RIGHT_BROW + L.LEFT_BROW, 1] - joy[L.RIGHT_BROW + L.LEFT_BROW, 1]).mean()
    assert corners > 0.07 * e, f"corners rose {corners:.1f} px"
    assert cheeks > 0.02 * e, f"cheeks rose {cheeks:.1f} px"
    if name in CLOSED and "glasses" not in name:  # (a frame over the brows holds them still)
        assert brows > 0.01 * e, f"brows rose {brows:.1f} px"
    if "sunglasses" not in name:  # (eyes behind dark lenses)
        before, after = dark_eye_pixels(face, face.render({})), dark_eye_pixels(face, frame)
        assert after < 0.95 * before, f"the eyes do not narrow ({before} -> {after} dark pixels)"


def test_sympathy_softens_the_brows_and_lowers_the_head(faces, models):
    face = faces["man_older_turned15.jpg"]
    animator = Animator(seed=5)
    animator.feel("concerned", 1.0)
    params = [animator.params(i / 60) for i in range(40)][-1]
    params = {k: v for k, v in params.items() if not k.startswith(("blink", "gaze"))}
    params["head_pitch"] -= 0.012 * np.sin(2 * np.pi * (39 / 60) / 4.2)  # without the breathing
    frame = face.render(params)
    rest_mesh, sad_mesh = mesh_of(models, face.render({})), mesh_of(models, frame)
    e = float(np.linalg.norm(rest_mesh[33] - rest_mesh[263]))
    assert (sad_mesh[1, 1] - rest_mesh[1, 1]) > 0.01 * e, "the head does not tilt down"
    # The brows on their own (the head kept still): their inner ends rise.
    still = {k: v for k, v in params.items() if not k.startswith("head")}
    rest, sad = luma(face.render({})), luma(face.render(still))
    rise = [brow_row(rest, *face.landmarks[i], int(0.12 * e)) - brow_row(sad, *face.landmarks[i], int(0.12 * e))
            for i in (107, 336)]  # the inner end of each brow
    assert min(rise) >= 0 and np.mean(rise) >= 0.02 * e, f"the inner ends of the brows do not rise ({rise} px)"


@pytest.mark.parametrize("photo, code", [("pool_false_detection.jpg", "avatar-face-unclear"),
                                         ("man_lying_turned.jpg", "avatar-face-turned")])
def test_enrollment_refuses_what_it_cannot_animate(models, photo, code):
    with pytest.raises(AvatarFault) as info:
        enroll(PORTRAITS / photo, models)
    assert info.value.code == code
    assert info.value.hint


def test_a_head_cut_off_by_the_edge_is_not_filled_with_streaks(models):
    enrolled = enroll(PORTRAITS / "man_head_cut_off.jpg", models)
    top = cv2.cvtColor(enrolled.portrait, cv2.COLOR_RGB2GRAY)[: int(0.15 * 512)]
    assert anisotropy(top) < 2.0, f"streaks above the head ({anisotropy(top):.1f})"


def lid_zone(face, upper, lower, amount):
    """Pixels a closing lid covers (middle 70 % of the eye, lash line excluded) at `amount`."""
    e = float(np.linalg.norm(face.landmarks[33] - face.landmarks[263]))
    up, lo = face.landmarks[upper], face.landmarks[lower]
    xs = np.arange(int(up[:, 0].min()), int(up[:, 0].max()) + 1)
    xs = xs[np.abs(xs - xs.mean()) < 0.35 * (xs[-1] - xs[0])]
    top = np.interp(xs, *up[np.argsort(up[:, 0])].T)
    bottom = np.interp(xs, *lo[np.argsort(lo[:, 0])].T)
    return [(x, int(np.ceil(a)) + 1, int(a + amount * (b - a + 0.045 * e) - 0.045 * e))
            for x, a, b in zip(xs, top, bottom, strict=True)], top, xs, e


@pytest.mark.parametrize("name", [n for n in ALL if "glasses" not in n])  # (frames: the next test)
def test_a_closed_lid_is_lid_skin_not_brow_hair(faces, name):
    """Thick brows close above the lid (e.g. the dark-skinned man's) must not be dragged down: the
    closing lid is as light as the skin just above the lashes, with no hair-dark pixels."""
    face = faces[name]
    rest = luma(face.portrait)
    for upper, lower, side in ((L.RIGHT_EYE_UPPER, L.RIGHT_EYE_LOWER, "blink_right"),
                               (L.LEFT_EYE_UPPER, L.LEFT_EYE_LOWER, "blink_left")):
        for amount in (0.7, 1.0):
            zone, top, xs, e = lid_zone(face, upper, lower, amount)
            skin = np.median(np.concatenate([rest[int(a - 0.06 * e):int(a - 0.035 * e), x]
                                             for x, a in zip(xs, top, strict=True)]))
            frame = luma(face.render({side: amount}))
            values = np.concatenate([frame[y0:y1, x] for x, y0, y1 in zone])
            dark = float(np.mean(values < 0.6 * skin))
            assert dark < 0.05, f"{side} {amount}: {dark:.0%} of the lid is hair-dark"


def test_glasses_frames_do_not_bend(faces):
    """Blinks, joy, sympathy and surprise leave the frame of a pair of glasses where it is."""
    face = faces["woman_older_glasses_neutral.jpg"]
    e = float(np.linalg.norm(face.landmarks[33] - face.landmarks[263]))
    pts = face.landmarks[L.RIGHT_EYE + L.LEFT_EYE + L.RIGHT_BROW + L.LEFT_BROW]
    (x0, y0), (x1, y1) = (pts.min(axis=0) - 0.15 * e).astype(int), (pts.max(axis=0) + 0.15 * e).astype(int)
    eyes = np.zeros(face.portrait.shape[:2], np.uint8)
    for eye in (L.RIGHT_EYE, L.LEFT_EYE):
        cv2.fillPoly(eyes, [face.landmarks[eye].round().astype(np.int32)], 1)
    eyes = cv2.dilate(eyes, np.ones((3, 3), np.uint8), iterations=round(0.05 * e)).astype(bool)
    limit = 0.35 * skin_light(face)
    frame_rim = (luma(face.portrait) < limit) & ~eyes
    frame_rim[:y0], frame_rim[y1:], frame_rim[:, :x0], frame_rim[:, x1:] = False, False, False, False
    assert frame_rim.sum() > 300, "no dark frame found"
    poses = {"blink": {"blink_left": 1.0, "blink_right": 1.0}, "joy": dict(avatars.POSES["joy"]),
             "sympathy": dict(avatars.POSES["sympathy"]), "surprise": dict(avatars.POSES["surprise"])}
    for label, params in poses.items():
        params = {k: v for k, v in params.items() if not k.startswith("head")}  # the head moves it rigidly
        dark = (luma(face.render(params)) < limit) & ~eyes
        dark[:y0], dark[y1:], dark[:, :x0], dark[:, x1:] = False, False, False, False
        iou = (dark & frame_rim).sum() / (dark | frame_rim).sum()
        assert iou > 0.9, f"{label}: the frame moved (overlap with the rest frame {iou:.2f})"
