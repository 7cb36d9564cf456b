"""Animator: visemes, emotion and the clock become smooth, lifelike parameters."""

from __future__ import annotations

import itertools

import numpy as np

from runtime.face.animator import Animator
from runtime.speech.visemes import from_alignments


def test_blinks_come_every_two_to_six_seconds_and_sometimes_double():
    animator = Animator(seed=3)
    closed = [animator.params(i / 60)["blink_left"] > 0.9 for i in range(60 * 120)]
    onsets = [i / 60 for i in range(1, len(closed)) if closed[i] and not closed[i - 1]]
    gaps = np.diff(onsets)
    assert (gaps < 0.5).any(), "no double blink in two minutes"
    events = [onsets[0]] + [b for a, b in itertools.pairwise(onsets) if b - a > 0.5]
    between = np.diff(events)  # from one blink (or double blink) to the next
    assert 20 <= len(events) <= 60
    assert between.min() >= 1.95 and between.max() <= 6.05


def test_mouth_follows_the_track_smoothly_and_closes_for_bilabials():
    rate = 22050
    track = from_alignments([("^", 4410), ("m", 2205), ("a", 4410), ("p", 1764), ("a", 4410), ("$", 4410)], rate)
    animator = Animator(seed=1)
    animator.speak(track, start_s=1.0)
    times = 1.0 + np.arange(0, track.num_samples / rate, 1 / 60)
    frames = [animator.params(t) for t in times]
    jaw = np.array([f["jaw_open"] for f in frames])
    press = np.array([f["lip_press"] for f in frames])
    at = times - 1.0
    in_m, in_a, in_p = (at > 0.21) & (at < 0.29), (at > 0.36) & (at < 0.44), (at > 0.53) & (at < 0.57)
    assert press[in_m].min() == 1.0 and jaw[in_m].max() == 0.0
    assert jaw[in_a].max() > 0.6
    assert press[in_p].min() == 1.0 and jaw[in_p].min() < 0.2, "the lips do not close for p"
    steps = np.abs(np.diff(jaw))
    raw_step = 0.85  # the track itself jumps from 0 to 0.85 between m and a
    assert steps.max() < raw_step * 0.6, "the jaw jumps frame to frame instead of gliding"
    silent = Animator(seed=1)
    assert all(abs(silent.params(t / 60)["jaw_open"]) < 1e-6 for t in range(120))


def test_emotion_blends_in_over_about_300_ms():
    animator = Animator(seed=2)
    animator.params(0.0)
    animator.feel("happy", 1.0)
    smile = [animator.params(t)["smile"] for t in np.arange(1 / 60, 1.0, 1 / 60)]
    assert smile[0] < 0.3 * 0.8
    assert smile[int(0.3 * 60)] > 0.9 * 0.8
    animator.feel("neutral", 0.0)
    later = [animator.params(1.0 + t)["smile"] for t in np.arange(1 / 60, 0.6, 1 / 60)]
    assert later[-1] < 0.05


def test_thinking_looks_up_and_aside_and_listening_nods():
    animator = Animator(seed=4)
    for i in range(60):
        animator.params(i / 60)
    animator.set_activity("thinking")
    thinking = [animator.params(1 + i / 60) for i in range(180)]
    gaze_y = np.array([p["gaze_y"] for p in thinking[15:]])
    gaze_x = np.array([p["gaze_x"] for p in thinking[15:]])
    assert (gaze_y < -0.4).mean() > 0.9, "the eyes do not go up while thinking"
    assert (np.abs(gaze_x) > 0.25).mean() > 0.9 and abs(np.sign(gaze_x).sum()) == len(gaze_x), "not aside"
    animator.set_activity("listening")
    listening = np.array([animator.params(4 + i / 60)["head_pitch"] for i in range(60 * 8)])
    breathing = 0.012 * np.sin(2 * np.pi * (4 + np.arange(60 * 8) / 60) / 4.2)
    nod = listening - breathing
    onsets = np.flatnonzero((nod[1:] > 0.02) & (nod[:-1] <= 0.02))
    assert 2 <= len(onsets) <= 6, f"{len(onsets)} nods in 8 s of listening"
    gaze = np.array([animator.params(12 + i / 60)["gaze_y"] for i in range(60)])
    assert np.abs(gaze).max() < 0.3, "a listener looks at the visitor"


def test_sadness_slows_blinking():
    def blinks(emotion):
        animator = Animator(seed=8)
        animator.feel(emotion, 1.0)
        closed = np.array([animator.params(i / 120)["blink_left"] > 0.8 for i in range(120 * 180)])
        return int((closed[1:] & ~closed[:-1]).sum())

    assert blinks("sad") < 0.8 * blinks("neutral")
