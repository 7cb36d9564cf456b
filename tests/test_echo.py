"""The echo margin of barge-in, on levels alone (runtime/speech/echo.py): fast, no models."""

from __future__ import annotations

import numpy as np

from runtime.speech.echo import EchoGate


def _echo(gate: EchoGate, seconds: float, seed: int = 0) -> list[float]:
    """Speech-like echo levels: syllables between -40 and -26 dBFS every 20 ms frame."""
    rng = np.random.default_rng(seed)
    levels = list(rng.uniform(-40.0, -26.0, int(seconds / 0.02)))
    for level in levels:
        gate.note(level)
    return levels


def test_the_bar_is_the_echos_loudest_stretch_not_its_loudest_frame():
    gate = EchoGate(window_s=0.08)
    levels = _echo(gate, 2.0)
    assert gate.echo_db() < max(levels) - 1.0, "an 80 ms test stretch is held to a 20 ms peak"
    assert gate.echo_db() > np.mean(levels), "the bar is below the echo's own loud stretches"


def test_a_visitor_starting_softly_is_not_held_to_their_own_voice():
    gate = EchoGate(window_s=0.08)
    _echo(gate, 2.0)
    bar = gate.echo_db() + 6.0
    heard = []
    for level in np.linspace(-28.0, -12.0, 50):  # a visitor ramping up over a second
        gate.note(float(level))
        heard.append((float(level), gate.echo_db() + 6.0))
    passed = [level for level, now in heard if level >= now]
    assert passed, f"the visitor's voice raised the bar with them: {bar:.1f} dBFS at first, {heard[-1][1]:.1f} at last"
    assert heard[-1][1] <= bar + 0.5


def test_a_louder_sentence_of_the_avatar_is_taken_in_after_the_hold():
    gate = EchoGate(window_s=0.08, hold_s=1.0)
    _echo(gate, 2.0)
    quiet = gate.echo_db()
    for level in np.random.default_rng(1).uniform(-32.0, -18.0, 100):  # 2 s, 8 dB louder, nobody accepted
        gate.note(float(level))
    assert gate.echo_db() > quiet + 5.0, "a louder echo never raised the bar: the avatar would interrupt itself"


def test_a_silent_avatar_has_no_echo():
    gate = EchoGate(window_s=0.08)
    _echo(gate, 1.0)
    gate.clear()
    assert gate.echo_db() <= -100.0
