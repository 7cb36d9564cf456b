"""The face, judged from pixels: enrollment of real photos, the renderer's poses, refusals."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import cv2
import numpy as np
import pytest
from PIL import Image

from runtime.config import AvatarConfig, Settings
from runtime.core.errors import AvatarFault
from runtime.core.paths import models_dir
from runtime.face import avatars, bundle
from runtime.face import landmarks as L
from runtime.face.bundle import Avatar
from runtime.face.enroll import EYE_DISTANCE, enroll
from runtime.store.models import ModelStore
from tests.conftest import REPO, run_cli

STORE = ModelStore(models_dir())
PORTRAIT = STORE.path("portrait-astronaut", "astronaut.png")
CAT = STORE.path("photo-cat", "chelsea.png")


@pytest.fixture(scope="module")
def models():
    return avatars.face_models(Settings(), STORE)


@pytest.fixture(scope="module")
def face(models):
    enrolled = enroll(PORTRAIT, models)
    return avatars.renderer(Avatar("t", enrolled.portrait, enrolled.landmarks, enrolled.meta))


def roi(points: np.ndarray, pad: int) -> tuple[slice, slice]:
    x0, y0 = points.min(axis=0).astype(int) - pad
    x1, y1 = points.max(axis=0).astype(int) + pad
    return slice(y0, y1), slice(x0, x1)


def dark_pixels(frame, region) -> int:
    gray = cv2.cvtColor(frame[region], cv2.COLOR_RGB2GRAY)
    return int((gray < 50).sum())


def test_rest_pose_reproduces_the_portrait(face):
    assert cv2.PSNR(face.render({}), face.portrait) >= 35


def test_open_mouth_shows_more_dark_cavity_than_closed(face):
    mouth = roi(face.landmarks[L.LIPS_UPPER_OUTER + L.LIPS_LOWER_OUTER], 30)
    closed = dark_pixels(face.render({"lip_press": 1.0}), mouth)
    opened = dark_pixels(face.render(avatars.mouth(avatars.Viseme.AA)), mouth)
    rounded = dark_pixels(face.render(avatars.mouth(avatars.Viseme.O)), mouth)
    assert opened > closed + 500, (closed, opened)
    assert closed < opened and rounded > closed + 200


def test_blink_changes_the_eyes_and_not_the_mouth(face):
    rest, blink = face.render({}).astype(int), face.render({"blink_left": 1.0, "blink_right": 1.0}).astype(int)
    eyes = roi(face.landmarks[L.RIGHT_EYE + L.LEFT_EYE], 4)
    mouth = roi(face.landmarks[L.LIPS_UPPER_OUTER + L.LIPS_LOWER_OUTER], 10)
    assert np.abs(rest[eyes] - blink[eyes]).mean() > 8
    assert np.abs(rest[mouth] - blink[mouth]).max() == 0
    # Where the iris was, the closed eye shows lid skin: much brighter.
    for eye in (L.RIGHT_EYE, L.LEFT_EYE):
        centre = face.landmarks[eye].mean(axis=0).astype(int)
        iris = (slice(centre[1] - 2, centre[1] + 3), slice(centre[0] - 4, centre[0] + 5))
        assert blink[iris].mean() > rest[iris].mean() + 30


@pytest.mark.parametrize("pose", [*list(avatars.POSES), "extreme"])
def test_no_holes_or_new_black_pixels_outside_the_mouth(face, pose):
    # Every parameter at the end of its range at once (head angles: +-0.06 rad, see runtime.face.rig).
    extreme = {"jaw_open": 1.0, "head_yaw": 0.06, "head_pitch": -0.06, "head_roll": 0.06, "smile": 1.0,
               "brow_raise": 1.0, "gaze_x": 1.0, "gaze_y": -1.0, "blink_left": 1.0, "lip_spread": 1.0}
    params = avatars.POSES[pose] if pose in avatars.POSES else extreme
    frame = face.render(params)
    assert frame.dtype == np.uint8 and frame.shape == face.portrait.shape
    outside = np.ones(frame.shape[:2], bool)
    outside[roi(face.landmarks[L.LIPS_UPPER_OUTER + L.LIPS_LOWER_OUTER], 40)] = False
    # A hole would show as black where the portrait has no black nearby (the suit may move a bit).
    near_black = cv2.dilate((face.portrait.max(axis=2) < 8).astype(np.uint8), np.ones((41, 41), np.uint8))
    holes = (frame.max(axis=2) < 8) & outside & (near_black == 0)
    assert holes.sum() == 0
    border = np.concatenate([frame[0], frame[-1], frame[:, 0], frame[:, -1]]).astype(int)
    original = np.concatenate([face.portrait[0], face.portrait[-1], face.portrait[:, 0], face.portrait[:, -1]])
    assert np.abs(border - original).max() == 0, "the image border moved"


def _variants(tmp_path):
    base = Image.open(PORTRAIT).convert("RGB")
    out = {}
    out["jpeg"] = tmp_path / "p.jpg"
    base.save(out["jpeg"], quality=90)
    out["webp"] = tmp_path / "p.webp"
    base.save(out["webp"], quality=90)
    rotated = base.transpose(Image.Transpose.ROTATE_270)  # stored sideways; EXIF 8 says turn it back
    exif = Image.Exif()
    exif[0x0112] = 8
    out["exif"] = tmp_path / "exif.jpg"
    rotated.save(out["exif"], exif=exif, quality=92)
    canvas = Image.new("RGB", (1800, 1300), (90, 110, 130))
    canvas.paste(base, (1180, 700))
    out["off-centre"] = tmp_path / "off.png"
    canvas.save(out["off-centre"])
    out["tilted"] = tmp_path / "tilt.png"
    base.rotate(12, resample=Image.Resampling.BICUBIC, fillcolor=(200, 200, 200)).save(out["tilted"])
    out["mirrored"] = tmp_path / "mirror.png"
    base.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(out["mirrored"])
    return out


def test_real_photo_variants_enroll_to_the_same_framing(models, tmp_path):
    reference = enroll(PORTRAIT, models)
    eyes = reference.landmarks[L.RIGHT_EYE + L.LEFT_EYE, :2].mean(axis=0)
    for label, path in _variants(tmp_path).items():
        got = enroll(path, models)
        right = got.landmarks[L.RIGHT_EYE, :2].mean(axis=0)
        left = got.landmarks[L.LEFT_EYE, :2].mean(axis=0)
        assert abs(np.linalg.norm(left - right) - EYE_DISTANCE * 512) < 1.0, label
        assert abs(left[1] - right[1]) < 1.5, f"{label}: eyes not level"
        assert np.linalg.norm(got.landmarks[L.RIGHT_EYE + L.LEFT_EYE, :2].mean(axis=0) - eyes) < 2.0, label
        # The whole mesh lands where the reference's does: on average within 2.5 px of 512.
        assert np.abs(got.landmarks[:, :2] - reference.landmarks[:, :2]).mean() < 2.5, label


def test_refusals_have_codes_and_hints(models, tmp_path):
    (tmp_path / "note.png").write_text("not an image")
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(PORTRAIT.read_bytes()[:3000])
    small = tmp_path / "small.png"
    Image.open(PORTRAIT).resize((300, 300)).save(small)
    pair = tmp_path / "pair.png"
    two = Image.new("RGB", (1024, 512))
    two.paste(Image.open(PORTRAIT), (0, 0))
    two.paste(Image.open(PORTRAIT).resize((400, 400)), (600, 60))
    two.save(pair)
    cases = [(tmp_path / "note.png", "avatar-bad-image", {}), (truncated, "avatar-bad-image", {}),
             (tmp_path / "missing.jpg", "avatar-bad-image", {}), (CAT, "avatar-no-face", {}),
             (small, "avatar-face-too-small", {}), (pair, "avatar-several-faces", {"several": "refuse"})]
    for path, code, kwargs in cases:
        with pytest.raises(AvatarFault) as info:
            enroll(path, models, **kwargs)
        assert info.value.code == code, path
        assert info.value.hint
    chosen = enroll(pair, models)  # default: the largest face, with a warning
    assert chosen.meta["head_px"] > 130


def test_avatar_cli_enroll_list_show_remove_and_privacy(tmp_path):
    env = {"EDGE_TALKER_STATE": str(tmp_path / "state")}
    photo = tmp_path / "Visitor Photo.jpg"
    Image.open(PORTRAIT).convert("RGB").save(photo)
    done = run_cli("avatar", "enroll", str(photo), env=env)
    assert done.returncode == 0, done.stderr
    assert run_cli("avatar", "list", env=env).stdout.split() == ["visitor-photo"]
    folder = tmp_path / "state" / "avatars" / "visitor-photo"
    assert sorted(p.name for p in folder.iterdir()) == ["landmarks.npy", "meta.json", "portrait.png"]
    shown = run_cli("avatar", "show", "visitor-photo", env=env)
    assert '"original": null' in shown.stdout
    sheet = tmp_path / "sheet.png"
    assert run_cli("avatar", "preview", "visitor-photo", "--out", str(sheet), env=env).returncode == 0
    assert Image.open(sheet).size == (3 * 512, 4 * 512)
    assert run_cli("avatar", "remove", "visitor-photo", env=env).returncode == 0
    done = run_cli("avatar", "show", "visitor-photo", env=env)
    assert done.returncode == 1 and "error[avatar-unknown]" in done.stderr
    done = run_cli("avatar", "enroll", str(CAT), "--name", "cat", env=env)
    assert done.returncode == 1 and "error[avatar-no-face]" in done.stderr and "Traceback" not in done.stderr
    done = run_cli("avatar", "enroll", str(photo), "--name", "Bad Name!", env=env)
    assert "error[avatar-bad-name]" in done.stderr


def test_damaged_bundle_is_refused(tmp_path, models):
    state = tmp_path / "state"
    bundle.save(state, "x", enroll(PORTRAIT, models))
    (state / "avatars" / "x" / "landmarks.npy").write_bytes(b"garbage")
    with pytest.raises(AvatarFault) as info:
        bundle.load(state, "x")
    assert info.value.code == "avatar-damaged"


def test_keep_original_is_opt_in(tmp_path):
    settings = Settings(avatar=AvatarConfig(keep_original=True),
                        paths={"state": str(tmp_path / "state")})
    folder = avatars.enroll_photo(settings, PORTRAIT, "kept")
    assert (folder / "original.png").read_bytes() == PORTRAIT.read_bytes()


def test_a_16_bit_grey_photo_enrolls_as_it_looks(models, tmp_path):
    grey8 = Image.open(PORTRAIT).convert("L")
    grey16 = tmp_path / "grey16.png"
    Image.fromarray(np.asarray(grey8).astype(np.uint16) * 257).save(grey16)
    assert Image.open(grey16).mode.startswith("I")  # a true 16-bit grey PNG
    grey8.save(tmp_path / "grey8.png")
    reference = enroll(tmp_path / "grey8.png", models)  # positive control: the 8-bit grey photo
    got = enroll(grey16, models)
    assert np.abs(got.portrait.astype(int) - reference.portrait).mean() < 1.0


def test_a_transparent_background_becomes_neutral_grey(models, tmp_path):
    photo = Image.open(PORTRAIT).convert("RGB")
    # A cut-out portrait: transparent around the head, black under the transparency (as exports do).
    rgba = np.dstack([np.asarray(photo), np.full(photo.size[::-1], 255, np.uint8)])
    h, w = rgba.shape[:2]
    yy, xx = np.mgrid[:h, :w]
    outside = ((xx - w * 0.5) / (w * 0.36)) ** 2 + ((yy - h * 0.42) / (h * 0.45)) ** 2 > 1
    rgba[outside] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "cutout.png")
    on_grey = np.asarray(photo).copy()
    on_grey[outside] = 128
    Image.fromarray(on_grey).save(tmp_path / "on-grey.png")
    reference = enroll(tmp_path / "on-grey.png", models)
    got = enroll(tmp_path / "cutout.png", models)
    assert np.abs(got.portrait.astype(int) - reference.portrait).mean() < 1.0
    corner = got.portrait[:40, :40].reshape(-1, 3)
    assert np.abs(corner.astype(int) - 128).max() <= 2, "the transparent background is not neutral grey"


def _names_on_disk(state) -> list[str]:
    return sorted(p.name for p in (state / "avatars").iterdir()) if (state / "avatars").is_dir() else []


def test_an_avatar_name_is_checked_whole_and_never_guessed(tmp_path):
    env = {"EDGE_TALKER_STATE": str(tmp_path / "state")}
    for name in ("evil\n", "", "../up", "x" * 65):
        done = run_cli("avatar", "enroll", str(PORTRAIT), "--name", name, env=env)
        assert done.returncode == 1 and "error[avatar-bad-name]" in done.stderr, (name, done.stderr)
        assert "Traceback" not in done.stderr
    assert _names_on_disk(tmp_path / "state") == []
    done = run_cli("avatar", "enroll", str(PORTRAIT), "--name", "lobby-1", env=env)  # positive control
    assert done.returncode == 0, done.stderr


def test_re_enrolling_a_name_needs_replace(tmp_path):
    env = {"EDGE_TALKER_STATE": str(tmp_path / "state")}
    assert run_cli("avatar", "enroll", str(PORTRAIT), "--name", "lobby", env=env).returncode == 0
    first = bundle.load(tmp_path / "state", "lobby")
    mirrored = tmp_path / "mirrored.png"
    Image.open(PORTRAIT).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(mirrored)
    done = run_cli("avatar", "enroll", str(mirrored), "--name", "lobby", env=env)
    assert done.returncode == 1 and "error[avatar-exists]" in done.stderr and "--replace" in done.stderr
    assert np.array_equal(bundle.load(tmp_path / "state", "lobby").portrait, first.portrait), "the avatar changed"
    done = run_cli("avatar", "enroll", str(mirrored), "--name", "lobby", "--replace", env=env)
    assert done.returncode == 0, done.stderr
    assert not np.array_equal(bundle.load(tmp_path / "state", "lobby").portrait, first.portrait)


@pytest.mark.parametrize("replace", [False, True])
def test_concurrent_enrollments_of_one_name_leave_one_whole_avatar(tmp_path, replace):
    state = tmp_path / "state"
    command = [sys.executable, "-m", "runtime", "avatar", "enroll", str(PORTRAIT), "--name", "race"]
    procs = [subprocess.Popen(command + (["--replace"] if replace else []), cwd=REPO, text=True,
                              env={**os.environ, "EDGE_TALKER_STATE": str(state)},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(4)]
    results = [(proc.wait(timeout=300), proc.stderr.read()) for proc in procs]
    for proc in procs:
        proc.stdout.close()
        proc.stderr.close()
    assert not any("Traceback" in err for _, err in results), results
    if replace:
        assert [code for code, _ in results] == [0] * 4, results
    else:
        assert sorted(code for code, _ in results) == [0, 1, 1, 1], results
        assert sum("error[avatar-exists]" in err for _, err in results) == 3
    assert bundle.names(state) == ["race"]
    bundle.load(state, "race")
    hidden = [n for n in _names_on_disk(state) if n.startswith(".") and n != ".lock"]
    assert len(hidden) == 1 and (state / "avatars" / "race").resolve().name == hidden[0], _names_on_disk(state)


def test_replacing_an_avatar_never_makes_it_missing(tmp_path, models):
    state = tmp_path / "state"
    enrolled = enroll(PORTRAIT, models)
    bundle.save(state, "lobby", enrolled)
    failures, loads, done = [], [0], threading.Event()

    def read_all_the_time():
        while not done.is_set():
            try:
                bundle.load(state, "lobby")
                loads[0] += 1
            except AvatarFault as fault:
                failures.append(fault.code)

    reader = threading.Thread(target=read_all_the_time)
    reader.start()
    try:
        for _ in range(60):
            bundle.save(state, "lobby", enrolled, replace=True)
    finally:
        done.set()
        reader.join(30)
    assert loads[0] > 0  # positive control: the reader did read
    assert failures == [], f"{len(failures)} of {len(failures) + loads[0]} reads failed: {set(failures)}"
