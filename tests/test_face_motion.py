"""The face in motion, judged from rendered frames: joy widens and lifts the corners but does not
gape, the lips travel shut over a few frames (unless an m, b or p needs them shut now), and a blink
is a lid that travels down over several frames (no cross-fade between two lid positions).
Portraits and their licences: tests/data/portraits/SOURCES.md."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.face import landmarks as L
from runtime.face.animator import Animator
from runtime.speech.visemes import from_alignments
from tests.conftest import FACE_PORTRAITS as ALL
from tests.conftest import luma

FPS = 25


def mesh_of(face_models, frame) -> np.ndarray:
    found = face_models.detect(frame)
    assert found, "the rendered face is no longer detected as a face"
    return face_models.mesh(frame, max(found, key=lambda f: f.score))[:, :2]


def held_params(emotion: str | None) -> dict[str, float]:
    """The parameters 0.4 s into a held "aa" (the jaw at its widest), with full joy or none."""
    animator = Animator(seed=1)
    animator.speak(from_alignments([("a", 16000)], 16000), 0.0)
    if emotion:
        animator.feel(emotion, 1.0, 0.0)
    params = {}
    for i in range(int(0.4 * FPS) + 1):
        params = animator.params(i / FPS)
    return params



@pytest.mark.parametrize("name", ALL)
def test_joy_at_an_open_vowel_does_not_gape(portrait_faces, name):
    """At a joy peak on a wide vowel the mouth is at most 5 % wider and no taller than the same
    vowel said neutrally (a laughing gape reads as manic, most of all on photos that already smile).
    The lips are measured where the frame shows them (where the warp carries the photo's lip
    points, FaceRenderer.landmarks_at): the face mesh re-detected on the frame reads a lit tongue's
    top or drawn teeth as the lower lip and the cavity's shaded corners as the mouth's corners, and
    moved by 1-2 px (up to 6 %) whenever the inside's shading changed, with the lips unmoved."""
    face = portrait_faces[name]
    sizes = {}
    for emotion in (None, "happy"):
        at = face.landmarks_at(held_params(emotion))
        sizes[emotion] = (float(np.linalg.norm(at[61] - at[291])), float(at[14, 1] - at[13, 1]))
    (width, gap), (joy_width, joy_gap) = sizes[None], sizes["happy"]
    assert joy_width <= 1.05 * width, f"joy opens the mouth {joy_width / width - 1:.0%} wider"
    assert joy_gap <= 1.0 * gap + 1.0, f"joy opens the lips {joy_gap:.1f} px apart vs {gap:.1f} neutral"


def eye_box(face) -> tuple[slice, slice]:
    pts = face.landmarks[L.RIGHT_EYE + L.LEFT_EYE]
    e = float(np.linalg.norm(face.landmarks[33] - face.landmarks[263]))
    (x0, y0), (x1, y1) = (pts.min(axis=0) - 0.05 * e).astype(int), (pts.max(axis=0) + 0.05 * e).astype(int)
    return slice(y0, y1), slice(x0, x1)


def between(values: np.ndarray) -> int:
    """How many frames show the lid neither open nor shut (10-90 % of the way)."""
    return int(((values > 0.1) & (values < 0.9)).sum())


def test_a_blink_travels_down_over_frames_and_shuts(portrait_faces):
    """Every blink in 30 s of idle life, at 25 fps: the lids come down through at least two frames in
    between open and shut, are seen shut (>= 95 % of the way) in at least one frame, and go back up
    through at least two frames in between (no one-frame pop, no blink that never closes)."""
    face = portrait_faces["man_older_turned15.jpg"]
    box = eye_box(face)
    rest = luma(face.render({})[box])
    shut = luma(face.render({"blink_left": 1.0, "blink_right": 1.0})[box])
    full = float(np.abs(shut - rest).mean())
    animator = Animator(seed=7)
    params = [animator.params(i / FPS) for i in range(30 * FPS)]
    head = ("head_yaw", "head_pitch", "head_roll", "gaze_x", "gaze_y")
    closing = []
    for p in params:
        if p["blink_left"] < 1e-3:
            closing.append(0.0)
            continue
        still = {**p, **dict.fromkeys(head, 0.0)}  # (the lids alone: no head motion in the difference)
        closing.append(float(np.abs(luma(face.render(still)[box]) - rest).mean()) / full)
    closing = np.array(closing)
    blinks = np.split(np.arange(len(closing)), np.flatnonzero(np.diff((closing > 0.02).astype(int))) + 1)
    blinks = [b for b in blinks if closing[b].min() > 0.02]
    assert len(blinks) >= 4, f"{len(blinks)} blinks in 30 s"
    for frames in blinks:
        values = closing[frames]
        peak = int(np.argmax(values))
        down, up = values[:peak], values[peak + 1:]
        assert values[peak] >= 0.95, f"a blink never shuts (at most {values[peak]:.0%}): {np.round(values, 2)}"
        assert between(down) >= 2 and between(up) >= 2, f"a lid jumps: {np.round(values, 2)}"


SPOKEN = [("h", 0.06), ("a", 0.14), ("t", 0.05), ("a", 0.12), ("s", 0.08), ("o", 0.13), ("k", 0.05),
          ("a", 0.15), (".", 0.25), ("n", 0.06), ("a", 0.16), ("l", 0.05), ("e", 0.12), ("t", 0.04), ("a", 0.13),
          ("m", 0.07), ("a", 0.15), ("d", 0.05), ("o", 0.14), (".", 0.3), ("w", 0.06), ("a", 0.17), ("s", 0.07),
          ("a", 0.12), ("b", 0.06), ("i", 0.11), ("k", 0.05), ("a", 0.18), (".", 0.4)]
"""Sounds and their lengths (seconds) of a made-up utterance: open vowels that end on a consonant, on
a pause and on a bilabial."""


def test_the_lips_travel_shut_unless_a_bilabial_needs_them_shut(portrait_faces):
    """Over an utterance at 25 fps the lips' gap never falls by more than 40 % of its widest in one
    frame, except onto an m, b or p: in the frames that close towards one (it is known ahead, the
    lips start closing 120 ms before it; how those frames travel is
    test_an_m_b_or_p_closes_over_frames_and_reopens_over_frames). The gap is where each frame
    shows the lips' middle points (FaceRenderer.landmarks_at), in pixels: the face mesh
    re-detected on the frames put the lower lip at drawn teeth or the tongue's top, reading the
    open mouth 25-35 % less open than drawn, and its error moved with the inside's shading; divided
    by the mesh's mouth width it also counted the corners drawing in at an o as opening."""
    face = portrait_faces["woman_older_glasses_neutral.jpg"]
    rate = 16000
    track = from_alignments([(sound, int(seconds * rate)) for sound, seconds in SPOKEN], rate)
    animator = Animator(seed=5)
    animator.speak(track, 0.1)
    gaps, bilabial = [], []
    for i in range(int((0.1 + track.num_samples / rate) * FPS)):
        at = face.landmarks_at(animator.params(i / FPS))
        gaps.append(float(at[14, 1] - at[13, 1]))
        ahead = [track.at(int((i / FPS - 0.1 + dt) * rate))[3] >= 1.0 for dt in (0.0, 0.04, 0.08, 0.12, 0.16)]
        bilabial.append(any(ahead))
    gaps = np.array(gaps)
    gaps = (gaps - gaps[0]) / (gaps.max() - gaps[0])
    falls = [(round(float(gaps[i - 1] - gaps[i]), 2), i) for i in range(1, len(gaps)) if not bilabial[i]]
    worst = max(falls)
    assert worst[0] <= 0.4, f"the lips snap shut at frame {worst[1]}: {np.round(gaps[worst[1] - 2:worst[1] + 2], 2)}"


BILABIALS = [("a", 0.16), ("m", 0.06), ("a", 0.2), ("b", 0.05), ("e", 0.17), ("p", 0.07), ("a", 0.18),
             ("m", 0.03), ("a", 0.2), (".", 0.3)]
"""Wide vowels running into m, b and p (one of them shorter than a frame at 25 fps)."""


@pytest.mark.parametrize(("name", "lead"), [
    (name, lead)
    for name in ("man_darkskin_smile_teeth.jpg", "woman_older_glasses_neutral.jpg") for lead in (0.1, 0.117, 0.133)])
def test_an_m_b_or_p_closes_over_frames_and_reopens_over_frames(portrait_faces, face_models, name, lead):
    """Around every m, b and p at 25 fps (whatever the phase of the frames against the sound, and a
    sound shorter than a frame too) the lips are seen shut in at least one frame, and neither the
    frame before nor the frame after shows more than 65 % of the utterance's widest opening: the
    lips come together over frames instead of slamming shut from a wide-open frame, and part
    again over two frames or more (the lips' gap from the mesh on each rendered frame)."""
    face = portrait_faces[name]
    rate = 16000
    track = from_alignments([(sound, int(seconds * rate)) for sound, seconds in BILABIALS], rate)
    animator = Animator(seed=5)
    animator.speak(track, lead)
    gaps = []
    for i in range(int((lead + track.num_samples / rate) * FPS)):
        mesh = mesh_of(face_models, face.render(animator.params(i / FPS)))
        gaps.append(float(mesh[14, 1] - mesh[13, 1]) / float(np.linalg.norm(mesh[61] - mesh[291])))
    gaps = np.array(gaps)
    opening = (gaps - gaps.min()) / (gaps.max() - gaps.min())
    closed = np.flatnonzero(opening < 0.1)
    runs = np.split(closed, np.flatnonzero(np.diff(closed) > 1) + 1)
    closures = [c for c in runs if 0 < c[0] and c[-1] < len(gaps) - 3]
    assert len(closures) >= 4, f"{len(closures)} closures seen for 4 bilabials: {np.round(opening, 2)}"
    for c in closures:
        before, after = opening[c[0] - 1], opening[c[-1] + 1]
        around = np.round(opening[c[0] - 3:c[-1] + 4], 2)
        assert before <= 0.65, f"the lips slam shut from {before:.0%} open at frame {c[0]}: {around}"
        assert after <= 0.65, f"the lips spring open to {after:.0%} at frame {c[-1] + 1}: {around}"
